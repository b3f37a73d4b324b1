/**
 * When a migration may run again: after the server lost its answer (and the version table
 * shows it did not commit) or rolled it back by itself. Every re-run is bounded, by count and
 * by the lock timeout in total time.
 */
import { StrataError } from "../errors.ts";

/** Re-runs of one migration after a lost answer or a server-side rollback. */
export const MAX_RERUNS = 3;

export interface RerunLimits {
  lockTimeoutMs: number;
  /** When the current outage's budget ends (Reads.outageDeadline). */
  outageDeadline: number;
  describe: (e: unknown) => StrataError;
}

/** Returns when attempt `attempt + 1` is allowed; throws the final failure otherwise. */
export function checkRerun(label: string, attempt: number, firstStarted: number, cause: string, e: unknown, limits: RerunLimits): void {
  if (attempt <= MAX_RERUNS && Date.now() - firstStarted < limits.lockTimeoutMs && Date.now() < limits.outageDeadline) return;
  throw new StrataError("failure", `${label} did not commit after ${attempt} attempt(s) in ${Math.round((Date.now() - firstStarted) / 1000)}s: ${cause}`, {
    hint: "on sqld/Turso a transaction may hold the write lock ~5 s while others write: split a long data migration (see README \"Long migrations\"), or run it when nothing else writes",
    cause: e,
    details: limits.describe(e).details,
  });
}
