/**
 * --single-transaction: every step in one transaction (one round trip when all are SQL).
 * Either all of them commit or none does. Locally, SQL migrations run as in a savepoint group
 * (savepoint-group.ts) but under one guard for the whole run; a failure re-runs only the
 * failing migration's statements, inside the doomed transaction, to name the statement.
 */
import type { InStatement } from "@libsql/client";
import { StrataError } from "../errors.ts";
import { classifyError, describeDbError, isTransportError } from "../db/errors.ts";
import type { EngineParts } from "./parts.ts";
import type { MigrationFile } from "../script/discover.ts";
import { loadStep, type Direction, type LoadedStep } from "../script/load.ts";
import { enforcementError, RoledStatements, StageError, statementError, type Role } from "./failure.ts";
import { guardEnd, guardForeignKeys, guardStart, inlineStatement, scopeOf, type Scope } from "./guard.ts";
import { SAVEPOINT, type SqlRun } from "./savepoint-group.ts";
import { runTs } from "./step.ts";
import { recordInto } from "./step-statements.ts";
import { doneOutcome, type StepResult } from "./types.ts";

type Failed = (e: unknown, role: Role | undefined, at: { index: number; local?: number } | undefined) => never;

export class SingleTransaction {
  private readonly parts: EngineParts;

  constructor(parts: EngineParts) {
    this.parts = parts;
  }

  async runAll(items: { file: MigrationFile; direction: Direction }[]): Promise<StepResult[]> {
    if (items.length === 0) return [];
    const started = performance.now();
    const me = this.parts.runLock.me;
    const loaded = await Promise.all(items.map(async (it) => ({ ...it, step: await loadStep(it.file, it.direction) })));
    const outside = loaded.find((l) => !l.step.transaction);
    if (outside) {
      throw new StrataError("usage", `--single-transaction cannot include ${outside.file.version}_${outside.file.name}: it runs without a transaction`, {
        file: outside.step.file,
        hint: "run without --single-transaction, or stop before it with --to",
      });
    }
    const done = (): StepResult[] => {
      const ms = Math.round(performance.now() - started);
      return loaded.map((l) => ({ version: l.file.version, name: l.file.name, direction: l.direction, outcome: doneOutcome(l.direction), durationMs: ms }));
    };
    const scopes = loaded.map((l) => (l.step.kind === "sql" ? scopeOf(l.step.statements.map((x) => x.sql)) : undefined));
    const scope: Scope = scopes.some((x) => x === undefined) ? undefined : [...new Set(scopes.flat() as string[])];
    const g = this.parts.store.guard;
    const tail = new RoledStatements().add({ kind: "foreign-keys" }, guardForeignKeys(g, scope)).add({ kind: "bookkeeping" }, guardEnd(g), ...this.parts.runLock.leaseRenewal());
    const b = new RoledStatements().add({ kind: "guard-start" }, guardStart(g, scope));
    /** For each statement position in `b`: the migration (and its statement) it came from. */
    const origin: ({ index: number; local?: number } | undefined)[] = [undefined];
    const failed: Failed = (e, role, at) => {
      if (e instanceof StrataError) throw e;
      const c = classifyError(e).class;
      if (c === "statement" && role?.kind === "foreign-keys") {
        throw new StrataError("sql", "the migrations would leave new foreign key violations; all of them were rolled back", {
          hint: "run them without --single-transaction to see which one and which rows",
        });
      }
      if (c === "statement" && (role?.kind === "record" || role?.kind === "version-guard")) {
        throw new StrataError("state", "another runner changed the version table meanwhile; nothing was committed", { hint: "run again" });
      }
      if (c === "statement" && role?.kind === "guard-start") throw enforcementError(this.parts.db.displayUrl);
      if (c === "statement" && role?.kind === "user" && at?.local !== undefined) {
        const l = loaded[at.index]!;
        throw statementError(e, l.file, l.direction, l.step as LoadedStep & { kind: "sql" }, at.local, false, true);
      }
      throw describeDbError(e, this.parts.db.displayUrl);
    };
    if (loaded.every((l) => l.step.kind === "sql") && !this.parts.db.remote) {
      await this.runLocal(loaded as SqlRun[], scope, tail, failed);
      return done();
    }
    if (loaded.every((l) => l.step.kind === "sql")) {
      loaded.forEach((l, index) => {
        (l.step as LoadedStep & { kind: "sql" }).statements.forEach((st, local) => {
          b.add({ kind: "user", index: local }, st.sql);
          origin.push({ index, local });
        });
        const before = b.statements.length;
        recordInto(this.parts.store, me, b, l.file, l.direction);
        for (let k = before; k < b.statements.length; k++) origin.push({ index });
      });
      b.add(tail.roles[0]!, tail.statements[0]!);
      for (let k = 1; k < tail.statements.length; k++) b.add(tail.roles[k]!, tail.statements[k]!);
      // Remote fast path: the whole transaction as one statement sequence (one request). If it
      // fails it rolls back entirely; the batch form below then runs it again only to learn
      // which statement failed (and rolls back again).
      const text = ["PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE", ...b.statements.map(inlineStatement), "COMMIT"];
      try {
        await this.parts.db.client.executeMultiple(text.join(";\n") + ";");
        return done();
      } catch (e) {
        const c = classifyError(e).class;
        if (c === "auth" || c === "client" || c === "tls") throw describeDbError(e, this.parts.db.displayUrl);
        if (isTransportError(e)) {
          // The answer was lost: the version table tells whether the transaction committed.
          const committed = (await this.parts.reads.committedCount(loaded)) === loaded.length;
          this.parts.logger.warn(`lost the server's answer for the single transaction; the version table shows it ${committed ? "COMMITTED" : "did NOT commit"}`);
          if (committed) return done();
          throw describeDbError(e, this.parts.db.displayUrl);
        }
      }
      try {
        await this.parts.transactions.runBatch(b.statements);
      } catch (e) {
        const i = (e as { statementIndex?: number }).statementIndex;
        const located = i === undefined ? await this.parts.transactions.locateRefused(e, b) : undefined;
        if (located) failed(located.error, { kind: "user", index: located.index }, origin[located.position]);
        failed(e, b.roleOf(e), i === undefined ? undefined : origin[i]);
      }
      return done();
    }
    let current: { index: number } | undefined;
    try {
      await this.parts.transactions.inTransaction([b.statements[0]!], async (tx) => {
        for (const [index, l] of loaded.entries()) {
          current = { index };
          if (l.step.kind === "sql") {
            for (const [local, st] of l.step.statements.entries()) {
              try {
                await tx.execute(st.sql);
              } catch (e) {
                throw statementError(e, l.file, l.direction, l.step, local, false, true);
              }
            }
          } else {
            await runTs(l.step, l.direction, tx, this.parts.db.displayUrl);
          }
          const rec = recordInto(this.parts.store, me, new RoledStatements(), l.file, l.direction);
          await tx.batch(rec.statements).catch((e) => { throw new StageError(rec.roleOf(e), e); });
        }
        current = undefined;
        await tx.batch(tail.statements).catch((e) => { throw new StageError(tail.roleOf(e), e); });
      });
    } catch (e) {
      if (e instanceof StageError) failed(e.cause, e.role, current);
      failed(e, undefined, current);
    }
    return done();
  }

  /** Local, all SQL: one transaction, a savepoint per migration, the guard around all of them. */
  private async runLocal(loaded: SqlRun[], scope: Scope, tail: RoledStatements, failed: Failed): Promise<void> {
    const me = this.parts.runLock.me;
    let current: { index: number; local?: number } | undefined;
    try {
      await this.parts.transactions.inTransaction([guardStart(this.parts.store.guard, scope)], async (tx) => {
        const run = (stmts: InStatement[]) => tx.executeMultiple(stmts.map(inlineStatement).join(";\n") + ";");
        for (const [index, l] of loaded.entries()) {
          current = { index };
          const sqls = l.step.statements.map((x) => x.sql);
          const record = recordInto(this.parts.store, me, new RoledStatements(), l.file, l.direction).statements;
          try {
            await run([`SAVEPOINT ${SAVEPOINT}`, ...sqls, ...record, `RELEASE ${SAVEPOINT}`]);
          } catch (e) {
            // Back to the state before this migration (unless SQLite ended the transaction),
            // where its statements, run one by one, show which one fails. All is rolled back after.
            const kept = await run([`ROLLBACK TO ${SAVEPOINT}`]).then(() => true, () => false);
            for (const [local, sql] of (kept ? sqls : []).entries()) {
              const error = await tx.execute(sql).then(() => undefined, (x: unknown) => x);
              if (error !== undefined) {
                current = { index, local };
                throw new StageError({ kind: "user", index: local }, error);
              }
            }
            throw new StageError(kept ? { kind: "record" } : undefined, e);
          }
        }
        current = undefined;
        await tx.batch(tail.statements).catch((e) => { throw new StageError(tail.roleOf(e), e); });
      });
    } catch (e) {
      if (e instanceof StageError) failed(e.cause, e.role, current);
      failed(e, undefined, current);
    }
  }
}
