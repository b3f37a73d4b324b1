/**
 * One migration step, run on its own: a transactional SQL step is one batch (guard, statements,
 * version row, lease renewal); a TS step runs its function inside strata's transaction between
 * two batches; a no-transaction step runs statement by statement. A failure is explained
 * (failure.ts) and either reported with file and line, re-read, or re-run (rerun.ts).
 */
import path from "node:path";
import type { Transaction } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { classifyError, describeDbError } from "../db/errors.ts";
import type { EngineParts } from "./parts.ts";
import type { MigrationFile } from "../script/discover.ts";
import type { Direction, LoadedStep } from "../script/load.ts";
import { enforcementError, explainFailure, StageError, statementError, tsError, type Role } from "./failure.ts";
import { scopeOf, VIOLATION_REPORT } from "./guard.ts";
import { runWithoutTransaction } from "./no-transaction.ts";
import { confirmSteps, versionRowsOf } from "./readback.ts";
import { checkRerun, MAX_RERUNS } from "./rerun.ts";
import { stepStatements } from "./step-statements.ts";
import { RollbackSignal } from "./transaction.ts";
import { callerHoldsSavepoint, RELEASE_SAVEPOINT, SET_SAVEPOINT, transactionEndedError } from "../script/ts-runner.ts";
import { doneOutcome, type Outcome, type StepResult } from "./types.ts";

/** Runs a TS migration's function: what it throws is its failure, never a reason to retry. */
export async function runTs(step: LoadedStep & { kind: "ts" }, direction: Direction, tx: Transaction, displayUrl: string): Promise<void> {
  try {
    await step.run(tx);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    const c = classifyError(e).class;
    // The server ended the transaction under it (sqld's lock-hold / idle limits): a bounded re-run may succeed.
    if (c === "rolled-back") throw e;
    // Causes that are not the migration's: name them, never "fix the migration".
    if (c === "auth" || c === "tls" || c === "transport" || c === "timeout" || c === "moved" || c === "read-only") throw describeDbError(e, displayUrl);
    throw tsError(e, step.file, direction, false);
  }
}

export class StepRunner {
  private readonly parts: EngineParts;

  constructor(parts: EngineParts) {
    this.parts = parts;
  }

  async run(file: MigrationFile, direction: Direction, step: LoadedStep, attempt = 1, firstStarted = Date.now()): Promise<StepResult> {
    const started = performance.now();
    const attemptStarted = Date.now();
    const me = this.parts.runLock.me;
    const base = { version: file.version, name: file.name, direction };
    const done = (outcome: Outcome, recovered = false): StepResult => ({
      ...base,
      outcome,
      durationMs: Math.round(performance.now() - started),
      ...(recovered ? { recoveredAfterLostResponse: true } : {}),
    });

    if (!step.transaction) {
      await runWithoutTransaction(this.parts.db, this.parts.store, me, file, direction, step);
      return done(doneOutcome(direction));
    }

    const scope = step.kind === "sql" ? scopeOf(step.statements.map((x) => x.sql)) : undefined;
    const b = stepStatements(this.parts.store, me, file, direction, step.kind === "sql" ? step.statements.map((x) => x.sql) : [], scope, this.parts.runLock.leaseRenewal());
    let role: Role | undefined;
    try {
      if (step.kind === "sql") {
        await this.parts.transactions.runBatch(b.statements);
      } else {
        // TS: the guard start and the savepoint, the function, then the savepoint's release and
        // everything after the guard start: batch position j ≥ 1 is b's position j.
        const finish = [RELEASE_SAVEPOINT, ...b.statements.slice(1)];
        await this.parts.transactions.inTransaction([b.statements[0]!, SET_SAVEPOINT], async (tx) => {
          callerHoldsSavepoint(tx);
          await runTs(step, direction, tx, this.parts.db.displayUrl);
          await tx.batch(finish).catch((e) => {
            if ((e as { statementIndex?: number }).statementIndex === 0) throw transactionEndedError(`${direction}() of ${path.basename(step.file)}`, step.file, e);
            throw new StageError(b.roleOf(e), e);
          });
        });
      }
      return done(doneOutcome(direction));
    } catch (e) {
      role = e instanceof StageError ? e.role : b.roleOf(e);
      const describe = (x: unknown) => describeDbError(x, this.parts.db.displayUrl);
      const why = explainFailure(e, role, { file, direction, step, remote: this.parts.db.remote, describe });
      const label = `${file.version}_${file.name} (${direction})`;
      const limits = () => ({ lockTimeoutMs: this.parts.reads.lockTimeoutMs, outageDeadline: this.parts.reads.outageDeadline(), describe });
      switch (why.kind) {
        case "concurrent": {
          // Said only when the row shows it: written by another runner (up), or gone (down).
          const rs = await this.parts.reads.retryRead(() => this.parts.db.client.execute(this.parts.store.selectVersionRows([file.version])));
          const [confirmed] = confirmSteps([done(direction === "up" ? "already-applied" : "already-reverted")], versionRowsOf(rs.rows), me.holder);
          return confirmed!;
        }
        case "enforcement-on":
          throw enforcementError(this.parts.db.displayUrl);
        case "foreign-keys":
          throw await this.foreignKeyError(file, direction, step);
        case "error": {
          const located = role === undefined && step.kind === "sql" ? await this.parts.transactions.locateRefused(e, b) : undefined;
          throw located && step.kind === "sql" ? statementError(located.error, file, direction, step, located.index, false) : why.error;
        }
        case "lost": {
          this.parts.reads.outageStarted(attemptStarted);
          // The answer was lost: learn from the version table whether it committed.
          const committed = (await this.parts.reads.committedCount([{ file, direction }])) === 1;
          this.parts.logger.warn(`lost the server's answer for ${label}; the version table shows it ${committed ? "COMMITTED" : "did NOT commit"}`);
          if (committed) return done(doneOutcome(direction), true);
          checkRerun(label, attempt, firstStarted, "the server's answer was lost", e, limits());
          return this.run(file, direction, step, attempt + 1, firstStarted);
        }
        case "rolled-back": {
          const cause = why.code === "STREAM_EXPIRED" ? "the server expired the idle stream" : `the server rolled the transaction back (${why.code}: it held the write lock too long while another writer waited)`;
          checkRerun(label, attempt, firstStarted, cause, e, limits());
          this.parts.logger.warn(`${label}: ${cause}; running it again (attempt ${attempt + 1} of ${MAX_RERUNS + 1})`);
          return this.run(file, direction, step, attempt + 1, firstStarted);
        }
      }
    }
  }

  /** Re-runs the step in a transaction that is rolled back, to name the violating rows. */
  async foreignKeyError(file: MigrationFile, direction: Direction, step: LoadedStep): Promise<StrataError> {
    let report: { table: string; rowid: unknown; parent: string }[] = [];
    try {
      await this.parts.transactions.inTransaction([], async (tx) => {
        if (step.kind === "sql") for (const s of step.statements) await tx.execute(s.sql);
        else await step.run(tx);
        const rs = await tx.execute(VIOLATION_REPORT);
        report = rs.rows.map((r) => ({ table: String(r.table), rowid: r.rowid, parent: String(r.parent) }));
        throw new RollbackSignal();
      });
    } catch (e) {
      if (!(e instanceof RollbackSignal)) this.parts.logger.debug(`could not collect foreign key violations: ${messageOf(e)}`);
    }
    const byTable = new Map<string, unknown[]>();
    for (const r of report) byTable.set(`${r.table} → ${r.parent}`, [...(byTable.get(`${r.table} → ${r.parent}`) ?? []), r.rowid]);
    const detail = [...byTable].map(([t, ids]) => `${t} (rowids ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""})`).join("; ");
    return new StrataError("sql", `${direction} of ${file.version}_${file.name} would leave new foreign key violations: ${detail || "see PRAGMA foreign_key_check"}; rolled back`, {
      file: step.file,
      hint: "rows reference parents that no longer exist (a dropped or rebuilt parent table?): delete or fix those rows in the migration",
      details: { violations: report },
    });
  }
}
