/**
 * Runs one task per target with bounded concurrency, in one process: a canary phase first,
 * then the rest, and no new task starts once the failure budget is spent or the run is
 * interrupted. Tasks already started always run to their end (each one's migration commits or
 * rolls back on its own), so stopping never leaves a database half-done.
 */
import { setImmediate as nextTurn } from "node:timers/promises";

export interface PoolOptions {
  /** At most this many tasks at once (≥ 1). */
  concurrency: number;
  /** Run the first N items on their own first; stop before the rest if any of them fails. */
  canary: number;
  /** Stop starting new tasks once this many have failed (≥ 1). */
  maxFailures: number;
  /** Aborting stops starting new tasks. */
  signal?: AbortSignal | undefined;
}

export type StopReason = "canary" | "max-failures" | "interrupted";

export interface PoolResult<R> {
  /** One result per item, in the items' order; undefined for items never started. */
  results: (R | undefined)[];
  stoppedBy: StopReason | undefined;
}

/** `task` must not throw: it returns its failure as a value, and `failed` recognizes it. */
export async function runPool<T, R>(
  items: readonly T[],
  task: (item: T, index: number) => Promise<R>,
  failed: (result: R) => boolean,
  options: PoolOptions,
): Promise<PoolResult<R>> {
  const results: (R | undefined)[] = new Array(items.length).fill(undefined);
  let failures = 0;
  let stoppedBy: StopReason | undefined;

  const phase = async (from: number, to: number, budget: number, reason: StopReason): Promise<void> => {
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < to && stoppedBy === undefined) {
        // Local databases answer synchronously: without this turn of the event loop, signals
        // (Ctrl-C) and timers would wait until the whole run is over.
        await nextTurn();
        if (options.signal?.aborted) {
          stoppedBy = "interrupted";
          return;
        }
        if (next >= to || stoppedBy !== undefined) return;
        const i = next++;
        const result = await task(items[i]!, i);
        results[i] = result;
        // Stopping matters only while something is left to start (in this phase or the next).
        if (failed(result) && ++failures >= budget && stoppedBy === undefined && next < items.length) stoppedBy = reason;
      }
    };
    const workers = Math.max(1, Math.min(options.concurrency, to - from));
    await Promise.all(Array.from({ length: workers }, worker));
  };

  const canary = Math.min(Math.max(0, options.canary), items.length);
  if (canary > 0) await phase(0, canary, 1, "canary");
  if (stoppedBy === undefined) await phase(canary, items.length, options.maxFailures, "max-failures");
  if (stoppedBy === undefined && options.signal?.aborted && results.includes(undefined)) stoppedBy = "interrupted";
  return { results, stoppedBy };
}
