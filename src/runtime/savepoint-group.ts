/**
 * Consecutive transactional SQL migrations on a local database, applied in one write
 * transaction with a SAVEPOINT per migration: its guard, its statements and its version row
 * commit together or not at all, as when each is its own transaction, but the group pays for
 * one commit (its fsyncs) instead of one per migration.
 *
 * A failing migration is rolled back to its savepoint, the ones before it commit, and the
 * caller runs the failing one alone, which names the statement (file:line) or the violating
 * rows exactly as a lone migration does. The trade: a crash mid-group loses that group's
 * uncommitted migrations (the database stays consistent; the next run applies them again), and
 * the write lock is held for the whole group — hence GROUP_LIMITS.
 */
import type { LoadedStep } from "../script/load.ts";
import { createsTrigger, inlineStatement, scopeOf } from "./guard.ts";
import type { EngineParts } from "./parts.ts";
import { stepStatements } from "./step-statements.ts";
import { doneOutcome, type PlannedRun, type StepResult } from "./types.ts";

export type SqlRun = PlannedRun & { step: LoadedStep & { kind: "sql" } };

/**
 * How much one group may hold: migrations, bytes of SQL, and milliseconds of holding the write
 * lock (no migration starts in a group older than that; the group commits instead).
 */
export const GROUP_LIMITS = { count: 500, bytes: 4_000_000, ms: 2_000 };

export interface GroupOutcome {
  /** The migrations that committed, in order. */
  done: StepResult[];
  /**
   * "bounded": the time limit or an abort ended the group early (what ran committed);
   * "failed": the next migration failed (or could not start) and must run alone to say why.
   */
  stop: "complete" | "bounded" | "failed";
}

export const SAVEPOINT = "strata_step";

/** SQLite ended the group's transaction by itself: nothing of it can commit. */
class TransactionEnded extends Error {}

export class SavepointGroup {
  private readonly parts: EngineParts;

  constructor(parts: EngineParts) {
    this.parts = parts;
  }

  /** `signal`: once aborted, no further migration of the group starts; those done commit. */
  async run(group: SqlRun[], signal?: AbortSignal): Promise<GroupOutcome> {
    const started = performance.now();
    const done: StepResult[] = [];
    let stop: GroupOutcome["stop"] = "complete";
    let endedAt: number | undefined;
    try {
      // Enforcement off and checked once for the group (a pragma cannot change inside a transaction).
      await this.parts.transactions.inTransaction([], async (tx) => {
        // Once per group: with no trigger in the schema, a scoped violation count needs no trigger check.
        let triggers = Number((await tx.execute("SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'trigger')")).rows[0]![0]) !== 0;
        for (const [k, g] of group.entries()) {
          if (k > 0 && (performance.now() - started > GROUP_LIMITS.ms || signal?.aborted)) {
            stop = "bounded";
            break;
          }
          const sqls = g.step.statements.map((x) => x.sql);
          triggers ||= sqls.some(createsTrigger);
          const b = stepStatements(this.parts.store, this.parts.runLock.me, g.file, g.direction, sqls, scopeOf(sqls), [], { triggers });
          const t0 = performance.now();
          try {
            await tx.executeMultiple([`SAVEPOINT ${SAVEPOINT}`, ...b.statements.map(inlineStatement), `RELEASE ${SAVEPOINT}`].join(";\n") + ";");
          } catch {
            stop = "failed";
            // Some errors end the whole transaction (ON CONFLICT ROLLBACK, I/O): then nothing of
            // it can commit.
            const kept = await tx.executeMultiple(`ROLLBACK TO ${SAVEPOINT};\nRELEASE ${SAVEPOINT};`).then(() => true, () => false);
            if (!kept) {
              endedAt = k;
              throw new TransactionEnded();
            }
            break;
          }
          done.push({ version: g.file.version, name: g.file.name, direction: g.direction, outcome: doneOutcome(g.direction), durationMs: Math.round(performance.now() - t0) });
        }
        const renew = this.parts.runLock.leaseRenewal();
        if (renew.length > 0) await tx.batch(renew);
      });
      return { done, stop };
    } catch (e) {
      // Apply the ones before the failing migration again, as a group of their own.
      if (e instanceof TransactionEnded) return { done: endedAt! > 0 ? (await this.run(group.slice(0, endedAt))).done : [], stop: "failed" };
      // Enforcement on, busy, the commit failed…: the version table says what is there, and
      // the lone run of the next migration reports why.
      const committed = done.length > 0 ? await this.parts.reads.committedCount(group) : 0;
      return { done: done.slice(0, committed), stop: "failed" };
    }
  }
}
