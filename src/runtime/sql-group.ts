/**
 * Running a plan of steps in order, with consecutive transactional SQL steps travelling
 * together. Each migration still commits or fails as a unit with its version row and guards:
 * - local: one write transaction, a SAVEPOINT per migration (savepoint-group.ts);
 * - remote: one request, a statement sequence in one transaction (one commit for the server
 *   to write instead of one per migration: measured, ≈ a quarter of sqld's CPU for the group).
 * Everything else (TS, no-transaction, a lone SQL step) runs alone (step.ts).
 */
import { StrataError } from "../errors.ts";
import { classifyError, describeDbError, isTransportError } from "../db/errors.ts";
import type { EngineParts } from "./parts.ts";
import { loadStep } from "../script/load.ts";
import { inlineStatement, scopeOf } from "./guard.ts";
import { GROUP_LIMITS, SavepointGroup, type GroupOutcome, type SqlRun } from "./savepoint-group.ts";
import type { StepRunner } from "./step.ts";
import { stepStatements } from "./step-statements.ts";
import { doneOutcome, type Outcome, type PlannedRun, type StepResult } from "./types.ts";

/** A remote group travels in one request; issue 12: up to 50 migrations is 3 requests in all. */
const REMOTE_LIMITS = { count: 50, bytes: 1_000_000 };

export function checkAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new StrataError("interrupted", "interrupted: no further migration was started", {
    hint: "the migrations reported before this line are committed; run `strata up` again to continue",
  });
}

export class GroupRunner {
  private readonly parts: EngineParts;
  private readonly steps: StepRunner;
  private readonly savepoints: SavepointGroup;

  constructor(parts: EngineParts, steps: StepRunner) {
    this.parts = parts;
    this.steps = steps;
    this.savepoints = new SavepointGroup(parts);
  }

  /**
   * Runs steps in order. `signal` is checked between migrations: when it is aborted, no
   * further migration starts and the run stops with an "interrupted" error.
   */
  async runSteps(
    items: PlannedRun[],
    /** Before a migration starts; `count` > 1 when it starts a group that travels in one request. */
    onStep?: (index: number, total: number, item: PlannedRun, count: number) => void,
    /** Results are appended here as they complete, so a failure leaves the completed ones. */
    results: StepResult[] = [],
    signal?: AbortSignal,
    /** After each migration committed (a group's members one by one, from its results). */
    onDone?: (index: number, total: number, result: StepResult) => void,
  ): Promise<StepResult[]> {
    let i = 0;
    const runOne = async (item: PlannedRun) => {
      onStep?.(i + 1, items.length, item, 1);
      const result = await this.steps.run(item.file, item.direction, await loadStep(item.file, item.direction));
      results.push(result);
      i++;
      onDone?.(i, items.length, result);
    };
    while (i < items.length) {
      checkAborted(signal);
      const group = await this.groupFrom(items, i);
      if (group.length > 1) {
        onStep?.(i + 1, items.length, items[i]!, group.length);
        const { done, stop } = this.parts.db.remote ? await this.runGroup(group) : await this.savepoints.run(group, signal);
        results.push(...done);
        for (const result of done) onDone?.(++i, items.length, result);
        // A failed member stops the group; the loop runs it alone, which reports the exact
        // statement (or succeeds, if the failure was passing).
        if (stop === "failed" && i < items.length) {
          checkAborted(signal);
          await runOne(items[i]!);
        }
        continue;
      }
      await runOne(items[i]!);
    }
    return results;
  }

  /** Consecutive transactional SQL steps from `start`, within the group limits (count, bytes of SQL). */
  private async groupFrom(items: PlannedRun[], start: number): Promise<SqlRun[]> {
    const limits = this.parts.db.remote ? REMOTE_LIMITS : GROUP_LIMITS;
    const group: SqlRun[] = [];
    let bytes = 0;
    for (let i = start; i < items.length && group.length < limits.count; i++) {
      const step = await loadStep(items[i]!.file, items[i]!.direction);
      if (step.kind !== "sql" || !step.transaction) break;
      bytes += step.statements.reduce((n, x) => n + x.sql.length, 0);
      if (group.length > 0 && bytes > limits.bytes) break;
      group.push({ ...items[i]!, step });
    }
    return group;
  }

  /**
   * Remote: one request for several SQL migrations, each with its guard and version row, so each
   * is atomic with its row. First as one transaction; if that fails, nothing of it committed and
   * the group is sent once more with a transaction per migration, so the ones before the failing
   * one commit (the same trade as a local savepoint group: a crash mid-group loses the group, and
   * the next run applies it). If a request fails or its answer is lost, the version table says how
   * many committed; those are reported, the rest are left to the caller.
   */
  private async runGroup(group: SqlRun[], commitEach = false): Promise<GroupOutcome> {
    const started = performance.now();
    const parts = ["PRAGMA foreign_keys = OFF"];
    for (const [k, g] of group.entries()) {
      const scope = scopeOf(g.step.statements.map((x) => x.sql));
      const b = stepStatements(this.parts.store, this.parts.runLock.me, g.file, g.direction, g.step.statements.map((x) => x.sql), scope, k === group.length - 1 ? this.parts.runLock.leaseRenewal() : []);
      if (commitEach || k === 0) parts.push("BEGIN IMMEDIATE");
      parts.push(...b.statements.map(inlineStatement));
      if (commitEach || k === group.length - 1) parts.push("COMMIT");
    }
    const result = (outcome: Outcome, g: PlannedRun, recovered = false): StepResult => ({
      version: g.file.version,
      name: g.file.name,
      direction: g.direction,
      outcome,
      durationMs: Math.round((performance.now() - started) / group.length),
      ...(recovered ? { recoveredAfterLostResponse: true } : {}),
    });
    try {
      await this.parts.db.client.executeMultiple(parts.join(";\n") + ";");
      return { done: group.map((g) => result(doneOutcome(g.direction), g)), stop: "complete" };
    } catch (e) {
      const c = classifyError(e).class;
      // Nothing to learn by re-reading: the server refused us, not the SQL.
      if (c === "auth" || c === "client" || c === "tls") throw describeDbError(e, this.parts.db.displayUrl);
      const lost = isTransportError(e);
      const committed = await this.parts.reads.committedCount(group);
      if (committed === 0 && !commitEach) return this.runGroup(group, true);
      const done = group.slice(0, committed).map((g) => result(doneOutcome(g.direction), g, lost));
      if (lost) this.parts.logger.warn(`lost the server's answer for ${group.length} migrations sent together; the version table shows ${done.length} COMMITTED`);
      return { done, stop: done.length < group.length ? "failed" : "complete" };
    }
  }
}
