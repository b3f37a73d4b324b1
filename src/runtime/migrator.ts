/**
 * The engine: reads the database state, holds the run lock, and applies or reverts one
 * migration at a time, each atomically with its version row. Commands (src/commands) decide
 * what to run; this file decides how.
 *
 * Round trips matter on remote databases, so:
 * - lock + state read is one batch;
 * - an SQL migration (statements + guards + version row + lease renewal) is one batch;
 * - releasing the lock and writing the audit log is one batch.
 */
import os from "node:os";
import path from "node:path";
import process from "node:process";
import type { InStatement, ResultSet, Transaction } from "@libsql/client";
import { StrataError, firstLine, messageOf } from "../errors.ts";
import type { Database } from "../db/connection.ts";
import { classifyError, describeDbError, isTransportError, sqliteMessage } from "../db/errors.ts";
import type { Logger } from "../output/logger.ts";
import type { MigrationFile } from "../script/discover.ts";
import { loadStep, type Direction, type LoadedStep } from "../script/load.ts";
import { guardEnd, guardForeignKeys, guardStart, guardVersionRow, inlineStatement, scopeOf, stepDurationMs, VIOLATION_REPORT, type Scope } from "./guard.ts";
import { enforcementError, explainFailure, RoledStatements, StageError, statementError, tsError, type Role } from "./failure.ts";
import { Store, toAppliedRow, toLockRow, type AppliedRow, type Identity, type LockRow, type LogEntry } from "./store.ts";
import { buildInfo } from "../build-info.ts";
import { callerHoldsSavepoint, RELEASE_SAVEPOINT, SET_SAVEPOINT, transactionEndedError } from "../script/ts-runner.ts";
import { confirmSteps, versionRowsOf, type VersionRows } from "./readback.ts";
import { processAlive, sleep } from "../platform/process.ts";

export interface EngineOptions {
  db: Database;
  table: string;
  logger: Logger;
  lockTimeoutMs: number;
  /** Lease length of the run lock; renewed after every migration. */
  leaseMs?: number;
}

export interface DbState {
  applied: AppliedRow[];
  lock: LockRow | undefined;
  /** Whether strata's tables exist yet. */
  initialized: boolean;
}

export type { Outcome, StepResult } from "./results.ts";
import type { Outcome, StepResult } from "./results.ts";

export interface PlannedRun {
  file: MigrationFile;
  direction: Direction;
}

export interface LockInfo {
  /** Another runner held the lock and we waited for it. */
  waited: boolean;
  /** A stale lock (expired lease or dead process) was taken over from this holder. */
  tookOverFrom: LockRow | undefined;
}

export function identity(): Identity {
  const host = os.hostname();
  let user = "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    /* no passwd entry (containers): keep "unknown" */
  }
  const pid = process.pid;
  return { holder: `${host}:${pid}:${Math.random().toString(36).slice(2, 10)}`, user, host, pid, strataVersion: buildInfo.version };
}

export class Engine {
  readonly db: Database;
  readonly store: Store;
  readonly logger: Logger;
  readonly me: Identity = identity();
  private readonly lockTimeoutMs: number;
  private readonly leaseMs: number;
  private localPrepared = false;
  private leaseRenewedAt = 0;
  /** When the requests started failing in a row (transport errors), for the outage budget. */
  private outageSince: number | undefined;

  constructor(options: EngineOptions) {
    this.db = options.db;
    this.store = new Store(options.table);
    this.logger = options.logger;
    this.lockTimeoutMs = options.lockTimeoutMs;
    this.leaseMs = options.leaseMs ?? 60_000;
  }

  // ---------------------------------------------------------------- reading

  /**
   * Waits until the database answers a trivial query (pre-start hooks that run before the
   * network is up). Returns the number of attempts; throws "unreachable" after the timeout.
   */
  async waitUntilReachable(timeoutMs: number): Promise<number> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.withDeadline(deadline, () => this.db.client.execute("SELECT 1"));
        return attempt;
      } catch (caught) {
        const e = attempt === 1 ? await this.db.diagnose(caught) : caught;
        const err = describeDbError(e, this.db.displayUrl);
        // Only "no answer yet" is worth waiting for: a refused token or a TLS mismatch stays so.
        if (!isTransportError(e)) throw err;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StrataError("unreachable", `${this.db.displayUrl} did not answer within ${formatSeconds(timeoutMs)}: ${err.message}`, {
            hint: err.hint,
            cause: e,
            details: err.details,
          });
        }
        if (attempt === 1) this.logger.info(`waiting for ${this.db.displayUrl} to answer (${err.message})`);
        await sleep(Math.min(delay, left));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /** The version rows and the lock, in one round trip, without creating anything. */
  async readState(attempts?: number): Promise<DbState> {
    if (!this.db.exists) return { applied: [], lock: undefined, initialized: false };
    return this.retryRead(async () => {
      try {
        const rs = await this.db.client.batch(this.store.readStateBatch(), "read");
        return { applied: rs[1]!.rows.map(toAppliedRow), lock: rs[3]!.rows[0] ? toLockRow(rs[3]!.rows[0]) : undefined, initialized: true };
      } catch (e) {
        if (isTransportError(e)) throw e; // retryRead retries it
        if (classifyError(e).class !== "statement") throw describeDbError(e, this.db.displayUrl);
        // The failing position says what is missing (Store.readStateBatch), not the message.
        const at = (e as { statementIndex?: number }).statementIndex;
        if (at === 0) return { applied: [], lock: undefined, initialized: false };
        if (at === 2) {
          // Only the version table exists (created by an older strata's stamp, say).
          const rs = await this.db.client.execute(this.store.selectApplied()).catch((e2) => { throw this.versionTableError(e2); });
          return { applied: rs.rows.map(toAppliedRow), lock: undefined, initialized: true };
        }
        throw this.versionTableError(e);
      }
    }, attempts);
  }

  /** The version table exists, yet reading it failed as a statement: it is not strata's. */
  private versionTableError(e: unknown): StrataError {
    if (e instanceof StrataError) return e;
    if (classifyError(e).class === "statement") {
      return new StrataError("state", `table "${this.store.table}" exists but was not created by strata (${sqliteMessage(e)})`, {
        hint: "another tool uses this table name: choose strata's with --table / STRATA_TABLE",
        cause: e,
      });
    }
    return describeDbError(e, this.db.displayUrl);
  }

  /**
   * Reads are retried with backoff on transport errors; everything else fails at once. Bounded
   * by `attempts`, and — across every retry loop of the command — by the outage budget: from
   * the first failed request of an outage, requests, their timeouts and back-offs together
   * stop at --lock-timeout.
   */
  async retryRead<T>(fn: () => Promise<T>, attempts = this.db.remote ? 4 : 1): Promise<T> {
    let delay = 250;
    for (let i = 1; ; i++) {
      const attemptStarted = Date.now();
      try {
        const result = await this.db.withDeadline(this.outageDeadline(), fn);
        this.outageSince = undefined;
        return result;
      } catch (caught) {
        const e = i === 1 ? await this.db.diagnose(caught) : caught;
        if (!isTransportError(e)) throw e === caught ? e : describeDbError(e, this.db.displayUrl); // callers classify
        this.outageSince ??= attemptStarted;
        if (i >= attempts || Date.now() + delay >= this.outageDeadline()) throw describeDbError(e, this.db.displayUrl);
        this.logger.warn(`${firstLine(describeDbError(e, this.db.displayUrl).message)}; retrying in ${delay} ms`);
        await sleep(delay);
        delay *= 3;
      }
    }
  }

  /** When the current outage's budget ends (a fresh budget when nothing is failing). */
  private outageDeadline(): number {
    return (this.outageSince ?? Date.now()) + this.lockTimeoutMs;
  }

  async readLog(limit: number) {
    try {
      const rs = await this.retryRead(() => this.db.client.execute(this.store.selectLog(limit)));
      return rs.rows.map((r) => ({
        id: Number(r.id),
        at: String(r.at),
        userHost: String(r.user_host),
        pid: Number(r.pid),
        strataVersion: String(r.strata_version),
        command: String(r.command),
        versions: JSON.parse(String(r.versions)) as string[],
        result: String(r.result),
        durationMs: Number(r.duration_ms),
        message: r.message === null ? undefined : String(r.message),
      }));
    } catch (e) {
      if (classifyError(e).class === "statement") {
        const rs = await this.db.client.execute({ sql: "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", args: [`${this.store.table}_log`] });
        if (rs.rows.length === 0) return [];
      }
      throw describeDbError(e, this.db.displayUrl);
    }
  }

  // ---------------------------------------------------------------- locking

  /**
   * Creates strata's tables if needed, takes the run lock (waiting up to the lock timeout) and
   * returns the state read under it: one round trip when the lock is free.
   */
  async lock(command: string): Promise<{ state: DbState; lock: LockInfo }> {
    const started = Date.now();
    let waited = false;
    let forceFrom: string | undefined;
    let announced = false;
    for (let attempt = 0; ; attempt++) {
      const stmts: InStatement[] = [
        ...this.store.createTables(),
        this.store.selectLock(),
        this.store.acquireLock(this.me, command, this.leaseMs, forceFrom),
        this.store.selectLock(),
        this.store.selectApplied(),
        this.store.hasAppliedByColumn(),
      ];
      let results: ResultSet[];
      try {
        results = await this.retryRead(() => this.db.client.batch(stmts, "write"));
      } catch (e) {
        // Another writer (a runner mid-migration, or a dead one's stream not yet expired on a
        // server) holds the database: keep waiting within the lock timeout.
        if (classifyError(e).class === "busy" && Date.now() - started < this.lockTimeoutMs) {
          if (!announced) this.logger.info(`waiting: ${this.db.displayUrl} is busy with another writer`);
          announced = true;
          waited = true;
          await sleep(200 + Math.random() * 300);
          continue;
        }
        throw this.versionTableError(e);
      }
      const n = this.store.createTables().length;
      const before = results[n]!.rows[0] ? toLockRow(results[n]!.rows[0]) : undefined;
      const after = toLockRow(results[n + 2]!.rows[0]!);
      if (after.holder === this.me.holder) {
        const tookOver = before && before.holder !== this.me.holder ? before : undefined;
        if (tookOver) {
          this.logger.warn(
            `took over a stale lock held by ${tookOver.host} pid ${tookOver.pid} (${tookOver.command}, since ${tookOver.startedAt}${tookOver.expired ? ", lease expired" : ", process is gone"})`,
          );
        }
        this.leaseRenewedAt = Date.now();
        const applied = results[n + 3]!.rows.map(toAppliedRow);
        // A version table of an older strata: add the runner column, once, under the lock.
        if (Number(results[n + 4]!.rows[0]?.[0] ?? 0) === 0) await this.retryRead(() => this.db.client.execute(this.store.addAppliedByColumn()));
        return { state: { applied, lock: after, initialized: true }, lock: { waited, tookOverFrom: tookOver } };
      }
      // Someone else holds it. A holder on this host whose process is gone can be taken at once.
      forceFrom = after.host === this.me.host && !processAlive(after.pid) ? after.holder : undefined;
      if (forceFrom) continue;
      if (Date.now() - started >= this.lockTimeoutMs) {
        throw new StrataError("lock", `timed out after ${Math.round(this.lockTimeoutMs / 1000)}s waiting for the migration lock held by ${after.host} pid ${after.pid} (${after.command}, since ${after.startedAt})`, {
          hint: "another strata run is in progress; wait for it, raise --lock-timeout, or if it is dead run `strata unlock`",
          details: { holder: after },
        });
      }
      if (!announced) {
        this.logger.info(`waiting for the migration lock held by ${after.host} pid ${after.pid} (${after.command})`);
        announced = true;
      }
      waited = true;
      await sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1000) * (0.5 + Math.random()));
    }
  }

  /** Releases the lock and appends the audit log row: one round trip. Never throws. */
  async unlockAndLog(entry: LogEntry): Promise<void> {
    try {
      await this.retryRead(() => this.db.client.batch([this.store.releaseLock(this.me), this.store.appendLog(this.me, entry)], "write"));
    } catch (e) {
      this.logger.warn(`could not release the migration lock: ${messageOf(e)} (it expires by itself; \`strata unlock\` clears it)`);
    }
  }

  /**
   * Ends a run: reads back the version rows of every step, releases the lock and appends the
   * audit row, in one round trip. Returns the steps as the database confirms them (readback.ts);
   * throws when it cannot read them back or they disagree.
   */
  async finishRun(entry: LogEntry, steps: StepResult[]): Promise<StepResult[]> {
    const versions = [...new Set(steps.map((x) => x.version))];
    const stmts = [...(versions.length > 0 ? [this.store.selectVersionRows(versions)] : []), this.store.releaseLock(this.me), this.store.appendLog(this.me, entry)];
    let rows: VersionRows;
    try {
      const rs = await this.retryRead(() => this.db.client.batch(stmts, "write"));
      rows = versionRowsOf(versions.length > 0 ? rs[0]!.rows : []);
    } catch (e) {
      const err = describeDbError(e, this.db.displayUrl);
      throw new StrataError(err.kind === "lock" ? "lock" : "unreachable", `could not read back the version rows of this run: ${err.message}`, {
        hint: "run `strata status` to see what is applied (the lock expires by itself)",
        cause: e,
        details: { unconfirmed: steps },
      });
    }
    return confirmSteps(steps, rows, this.me.holder);
  }

  /**
   * For commands that only change strata's records (stamp, resolve): runs `fn` under the run
   * lock; the statements it returns, the unlock and the audit row commit in one batch. On
   * failure the lock is released and the error logged.
   */
  async recordUnderLock<T>(
    command: string,
    fn: (state: DbState) => Promise<{ result: T; statements: InStatement[]; log: { command: string; versions: string[] } }>,
  ): Promise<T> {
    const started = performance.now();
    const { state } = await this.lock(command);
    try {
      const { result, statements, log } = await fn(state);
      const entry: LogEntry = { ...log, result: "ok", durationMs: performance.now() - started };
      try {
        await this.db.client.batch([...statements, this.store.releaseLock(this.me), this.store.appendLog(this.me, entry)], "write");
      } catch (e) {
        throw describeDbError(e, this.db.displayUrl);
      }
      return result;
    } catch (e) {
      await this.unlockAndLog({ command, versions: [], result: "error", durationMs: performance.now() - started, message: messageOf(e) });
      throw e;
    }
  }

  /** Releases the lock without a log entry (nothing was attempted). Never throws. */
  async unlock(): Promise<void> {
    try {
      await this.retryRead(() => this.db.client.execute(this.store.releaseLock(this.me)));
    } catch (e) {
      this.logger.warn(`could not release the migration lock: ${messageOf(e)} (it expires by itself; \`strata unlock\` clears it)`);
    }
  }

  async appendLog(entry: LogEntry): Promise<void> {
    await this.db.client.batch([...this.store.createTables(), this.store.appendLog(this.me, entry)], "write");
  }

  // ---------------------------------------------------------------- applying

  /** Applies one migration. Throws StrataError on failure, with file and line for SQL. */
  async up(file: MigrationFile): Promise<StepResult> {
    const step = await loadStep(file, "up");
    return this.runStep(file, "up", step);
  }

  async down(file: MigrationFile): Promise<StepResult> {
    const step = await loadStep(file, "down");
    return this.runStep(file, "down", step);
  }

  /**
   * The lease is renewed inside a migration's transaction once a quarter of it has passed:
   * often enough that a live runner never loses it, rarely enough to cost no write per
   * migration on fast runs.
   */
  private leaseRenewal(): InStatement[] {
    const now = Date.now();
    if (now - this.leaseRenewedAt < this.leaseMs / 4) return [];
    this.leaseRenewedAt = now;
    return [this.store.renewLock(this.me, this.leaseMs)];
  }

  /** Statements that record a step in the version table, inside its transaction (with their roles). */
  private recordInto(b: RoledStatements, file: MigrationFile, direction: Direction): RoledStatements {
    const g = this.store.guard;
    if (direction === "up") {
      return b.add({ kind: "record" }, this.store.insertApplied({ version: file.version, name: file.name, checksum: file.checksum, state: "applied", appliedBy: this.me.holder }, stepDurationMs(g)));
    }
    return b.add({ kind: "record" }, this.store.deleteApplied(file.version)).add({ kind: "version-guard" }, guardVersionRow(g));
  }

  /** One migration's transaction: guard start, its statements, the checks, its version row. */
  private stepStatements(file: MigrationFile, direction: Direction, userStatements: string[], scope: Scope, renew: boolean): RoledStatements {
    const g = this.store.guard;
    const b = new RoledStatements().add({ kind: "guard-start" }, guardStart(g, scope));
    userStatements.forEach((sql, index) => b.add({ kind: "user", index }, sql));
    b.add({ kind: "foreign-keys" }, guardForeignKeys(g, scope));
    this.recordInto(b, file, direction);
    b.add({ kind: "bookkeeping" }, guardEnd(g));
    if (renew) b.add({ kind: "bookkeeping" }, ...this.leaseRenewal());
    return b;
  }

  /**
   * Runs statements as one transaction with foreign-key enforcement off: remote, through
   * client.migrate (pragma + BEGIN … COMMIT in one round trip); local, as a write batch on the
   * single connection, where the pragmas are set first.
   */
  private async runBatch(stmts: InStatement[]): Promise<void> {
    if (this.db.remote) {
      await this.db.client.migrate(stmts);
      return;
    }
    await this.prepareLocal();
    await this.db.client.batch(stmts, "write");
  }

  /** Local connection set-up, once: enforcement off on the single connection (outside any transaction). */
  private async prepareLocal(): Promise<void> {
    if (this.db.remote || this.localPrepared) return;
    await this.db.client.execute("PRAGMA foreign_keys = OFF");
    this.localPrepared = true;
  }

  /**
   * Runs steps in order. Consecutive transactional SQL steps travel together as one statement
   * sequence in which each migration is still its own transaction with its version row and
   * guards (BEGIN … COMMIT per migration): one request on a remote database, one call into
   * SQLite on a local one. `signal` is checked between migrations: when it is aborted, no
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
      const result = item.direction === "up" ? await this.up(item.file) : await this.down(item.file);
      results.push(result);
      i++;
      onDone?.(i, items.length, result);
    };
    while (i < items.length) {
      checkAborted(signal);
      const group = await this.groupFrom(items, i);
      if (group.length > 1) {
        onStep?.(i + 1, items.length, items[i]!, group.length);
        const done = await this.runGroup(group);
        results.push(...done);
        for (const result of done) onDone?.(++i, items.length, result);
        // A failed member stops the group; the loop runs it alone, which reports the exact
        // statement (or succeeds, if the failure was passing).
        if (done.length < group.length) {
          checkAborted(signal);
          await runOne(items[i]!);
        }
        continue;
      }
      await runOne(items[i]!);
    }
    return results;
  }

  /** Up to 50 consecutive transactional SQL steps (and ~1 MB of SQL) from `start`. */
  private async groupFrom(items: PlannedRun[], start: number): Promise<(PlannedRun & { step: LoadedStep & { kind: "sql" } })[]> {
    const group: (PlannedRun & { step: LoadedStep & { kind: "sql" } })[] = [];
    let bytes = 0;
    for (let i = start; i < items.length && group.length < 50; i++) {
      const step = await loadStep(items[i]!.file, items[i]!.direction);
      if (step.kind !== "sql" || !step.transaction) break;
      bytes += step.statements.reduce((n, x) => n + x.sql.length, 0);
      if (group.length > 0 && bytes > 1_000_000) break;
      group.push({ ...items[i]!, step });
    }
    return group;
  }

  /**
   * One request for several SQL migrations. If it fails or its answer is lost, the version
   * table says how many committed; those are reported, the rest are left to the caller.
   */
  private async runGroup(group: (PlannedRun & { step: LoadedStep & { kind: "sql" } })[]): Promise<StepResult[]> {
    await this.prepareLocal();
    const started = performance.now();
    const parts = ["PRAGMA foreign_keys = OFF"];
    for (const [k, g] of group.entries()) {
      const scope = scopeOf(g.step.statements.map((x) => x.sql));
      const b = this.stepStatements(g.file, g.direction, g.step.statements.map((x) => x.sql), scope, k === group.length - 1);
      parts.push("BEGIN IMMEDIATE", ...b.statements.map(inlineStatement), "COMMIT");
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
      await this.db.client.executeMultiple(parts.join(";\n") + ";");
      return group.map((g) => result(g.direction === "up" ? "applied" : "reverted", g));
    } catch (e) {
      if (!this.db.remote) await this.db.client.execute("ROLLBACK").catch(() => undefined);
      const c = classifyError(e).class;
      // Nothing to learn by re-reading: the server refused us, not the SQL.
      if (c === "auth" || c === "client" || c === "tls") throw describeDbError(e, this.db.displayUrl);
      const lost = isTransportError(e);
      const committed = await this.committedCount(group);
      const done = group.slice(0, committed).map((g) => result(g.direction === "up" ? "applied" : "reverted", g, lost));
      if (lost && this.db.remote) this.logger.warn(`lost the server's answer for ${group.length} migrations sent together; the version table shows ${done.length} COMMITTED`);
      return done;
    }
  }

  /**
   * --single-transaction: every step in one transaction (one round trip when all are SQL).
   * Either all of them commit or none does.
   */
  async runAll(items: { file: MigrationFile; direction: Direction }[]): Promise<StepResult[]> {
    if (items.length === 0) return [];
    const started = performance.now();
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
      return loaded.map((l) => ({ version: l.file.version, name: l.file.name, direction: l.direction, outcome: l.direction === "up" ? "applied" : "reverted", durationMs: ms }));
    };
    const scopes = loaded.map((l) => (l.step.kind === "sql" ? scopeOf(l.step.statements.map((x) => x.sql)) : undefined));
    const scope: Scope = scopes.some((x) => x === undefined) ? undefined : [...new Set(scopes.flat() as string[])];
    const g = this.store.guard;
    const tail = new RoledStatements().add({ kind: "foreign-keys" }, guardForeignKeys(g, scope)).add({ kind: "bookkeeping" }, guardEnd(g), ...this.leaseRenewal());
    const b = new RoledStatements().add({ kind: "guard-start" }, guardStart(g, scope));
    /** For each statement position in `b`: the migration (and its statement) it came from. */
    const origin: ({ index: number; local?: number } | undefined)[] = [undefined];
    const failed = (e: unknown, role: Role | undefined, at: { index: number; local?: number } | undefined): never => {
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
      if (c === "statement" && role?.kind === "guard-start") throw enforcementError(this.db.displayUrl);
      if (c === "statement" && role?.kind === "user" && at?.local !== undefined) {
        const l = loaded[at.index]!;
        throw statementError(e, l.file, l.direction, l.step as LoadedStep & { kind: "sql" }, at.local, false, true);
      }
      throw describeDbError(e, this.db.displayUrl);
    };
    if (loaded.every((l) => l.step.kind === "sql")) {
      loaded.forEach((l, index) => {
        (l.step as LoadedStep & { kind: "sql" }).statements.forEach((st, local) => {
          b.add({ kind: "user", index: local }, st.sql);
          origin.push({ index, local });
        });
        const before = b.statements.length;
        this.recordInto(b, l.file, l.direction);
        for (let k = before; k < b.statements.length; k++) origin.push({ index });
      });
      b.add(tail.roles[0]!, tail.statements[0]!);
      for (let k = 1; k < tail.statements.length; k++) b.add(tail.roles[k]!, tail.statements[k]!);
      // Fast path: the whole transaction as one statement sequence (one call into SQLite, one
      // request remotely). If it fails it rolls back entirely; the batch form below then runs
      // it again only to learn which statement failed (and rolls back again).
      await this.prepareLocal();
      const text = ["PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE", ...b.statements.map(inlineStatement), "COMMIT"];
      try {
        await this.db.client.executeMultiple(text.join(";\n") + ";");
        return done();
      } catch (e) {
        const c = classifyError(e).class;
        if (c === "auth" || c === "client" || c === "tls") throw describeDbError(e, this.db.displayUrl);
        if (isTransportError(e) && this.db.remote) {
          // The answer was lost: the version table tells whether the transaction committed.
          const committed = (await this.committedCount(loaded)) === loaded.length;
          this.logger.warn(`lost the server's answer for the single transaction; the version table shows it ${committed ? "COMMITTED" : "did NOT commit"}`);
          if (committed) return done();
          throw describeDbError(e, this.db.displayUrl);
        }
        if (!this.db.remote) await this.db.client.execute("ROLLBACK").catch(() => undefined);
      }
      try {
        await this.runBatch(b.statements);
      } catch (e) {
        const i = (e as { statementIndex?: number }).statementIndex;
        const located = i === undefined ? await this.locateRefused(e, b) : undefined;
        if (located) failed(located.error, { kind: "user", index: located.index }, origin[located.position]);
        failed(e, b.roleOf(e), i === undefined ? undefined : origin[i]);
      }
      return done();
    }
    let current: { index: number } | undefined;
    try {
      await this.inTransaction([b.statements[0]!], async (tx) => {
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
            await this.runTs(l.step, l.direction, tx);
          }
          const rec = this.recordInto(new RoledStatements(), l.file, l.direction);
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

  /** Runs a TS migration's function: what it throws is its failure, never a reason to retry. */
  private async runTs(step: LoadedStep & { kind: "ts" }, direction: Direction, tx: Transaction): Promise<void> {
    try {
      await step.run(tx);
    } catch (e) {
      if (e instanceof StrataError) throw e;
      const c = classifyError(e).class;
      // The server ended the transaction under it (sqld's lock-hold / idle limits): a bounded re-run may succeed.
      if (c === "rolled-back") throw e;
      // Causes that are not the migration's: name them, never "fix the migration".
      if (c === "auth" || c === "tls" || c === "transport" || c === "timeout" || c === "moved" || c === "read-only") throw describeDbError(e, this.db.displayUrl);
      throw tsError(e, step.file, direction, false);
    }
  }

  private async runStep(file: MigrationFile, direction: Direction, step: LoadedStep, attempt = 1, firstStarted = Date.now()): Promise<StepResult> {
    const started = performance.now();
    const attemptStarted = Date.now();
    const base = { version: file.version, name: file.name, direction };
    const done = (outcome: Outcome, recovered = false): StepResult => ({
      ...base,
      outcome,
      durationMs: Math.round(performance.now() - started),
      ...(recovered ? { recoveredAfterLostResponse: true } : {}),
    });

    if (!step.transaction) {
      await this.runWithoutTransaction(file, direction, step);
      return done(direction === "up" ? "applied" : "reverted");
    }

    const scope = step.kind === "sql" ? scopeOf(step.statements.map((x) => x.sql)) : undefined;
    const b = this.stepStatements(file, direction, step.kind === "sql" ? step.statements.map((x) => x.sql) : [], scope, true);
    let role: Role | undefined;
    try {
      if (step.kind === "sql") {
        await this.runBatch(b.statements);
      } else {
        // TS: the guard start and the savepoint, the function, then the savepoint's release and
        // everything after the guard start: batch position j ≥ 1 is b's position j.
        const finish = [RELEASE_SAVEPOINT, ...b.statements.slice(1)];
        await this.inTransaction([b.statements[0]!, SET_SAVEPOINT], async (tx) => {
          callerHoldsSavepoint(tx);
          await this.runTs(step, direction, tx);
          await tx.batch(finish).catch((e) => {
            if ((e as { statementIndex?: number }).statementIndex === 0) throw transactionEndedError(`${direction}() of ${path.basename(step.file)}`, step.file, e);
            throw new StageError(b.roleOf(e), e);
          });
        });
      }
      return done(direction === "up" ? "applied" : "reverted");
    } catch (e) {
      role = e instanceof StageError ? e.role : b.roleOf(e);
      const why = explainFailure(e, role, { file, direction, step, remote: this.db.remote, describe: (x) => describeDbError(x, this.db.displayUrl) });
      const label = `${file.version}_${file.name} (${direction})`;
      switch (why.kind) {
        case "concurrent": {
          // Said only when the row shows it: written by another runner (up), or gone (down).
          const rs = await this.retryRead(() => this.db.client.execute(this.store.selectVersionRows([file.version])));
          const [confirmed] = confirmSteps([done(direction === "up" ? "already-applied" : "already-reverted")], versionRowsOf(rs.rows), this.me.holder);
          return confirmed!;
        }
        case "enforcement-on":
          throw enforcementError(this.db.displayUrl);
        case "foreign-keys":
          throw await this.foreignKeyError(file, direction, step);
        case "error": {
          const located = role === undefined && step.kind === "sql" ? await this.locateRefused(e, b) : undefined;
          throw located && step.kind === "sql" ? statementError(located.error, file, direction, step, located.index, false) : why.error;
        }
        case "lost": {
          this.outageSince ??= attemptStarted;
          // The answer was lost: learn from the version table whether it committed.
          const committed = (await this.committedCount([{ file, direction }])) === 1;
          this.logger.warn(`lost the server's answer for ${label}; the version table shows it ${committed ? "COMMITTED" : "did NOT commit"}`);
          if (committed) return done(direction === "up" ? "applied" : "reverted", true);
          this.checkRerun(label, attempt, firstStarted, "the server's answer was lost", e);
          return this.runStep(file, direction, step, attempt + 1, firstStarted);
        }
        case "rolled-back": {
          const cause = why.code === "STREAM_EXPIRED" ? "the server expired the idle stream" : `the server rolled the transaction back (${why.code}: it held the write lock too long while another writer waited)`;
          this.checkRerun(label, attempt, firstStarted, cause, e);
          this.logger.warn(`${label}: ${cause}; running it again (attempt ${attempt + 1} of ${MAX_RERUNS + 1})`);
          return this.runStep(file, direction, step, attempt + 1, firstStarted);
        }
      }
    }
  }

  /**
   * sqld parses a whole batch before running any of it and refuses it without saying which
   * statement it refused. Only for such a statement failure without a position: the user's
   * statements run one request each in a transaction that is always rolled back, and the first
   * that fails is the one. Returns its position in `b` and its own error.
   */
  private async locateRefused(e: unknown, b: RoledStatements): Promise<{ error: unknown; index: number; position: number } | undefined> {
    if (!this.db.remote || classifyError(e).class !== "statement" || (e as { statementIndex?: unknown }).statementIndex !== undefined) return undefined;
    let found: { error: unknown; index: number; position: number } | undefined;
    try {
      await this.inTransaction([], async (tx) => {
        for (const [position, role] of b.roles.entries()) {
          if (role.kind !== "user") continue;
          try {
            await tx.execute(b.statements[position]!);
          } catch (err) {
            if (classifyError(err).class === "statement") found = { error: err, index: role.index, position };
            break;
          }
        }
        throw new RollbackSignal();
      });
    } catch (err) {
      if (!(err instanceof RollbackSignal)) this.logger.debug(`could not locate the refused statement: ${messageOf(err)}`);
    }
    return found;
  }

  /** Every re-run is bounded: by count, and by the lock timeout in total time. */
  private checkRerun(label: string, attempt: number, firstStarted: number, cause: string, e: unknown): void {
    if (attempt <= MAX_RERUNS && Date.now() - firstStarted < this.lockTimeoutMs && Date.now() < this.outageDeadline()) return;
    throw new StrataError("failure", `${label} did not commit after ${attempt} attempt(s) in ${Math.round((Date.now() - firstStarted) / 1000)}s: ${cause}`, {
      hint: "on sqld/Turso a transaction may hold the write lock ~5 s while others write: split a long data migration (see README \"Long migrations\"), or run it when nothing else writes",
      cause: e,
      details: describeDbError(e, this.db.displayUrl).details,
    });
  }

  /** How many of `items`, in order, the version table records as done: one read, retried (after a lost answer). */
  private async committedCount(items: PlannedRun[]): Promise<number> {
    const state = await this.readState(6);
    const applied = new Map(state.applied.map((r) => [BigInt(r.version), r]));
    let n = 0;
    for (const { file, direction } of items) {
      const row = applied.get(BigInt(file.version));
      if (direction === "up" ? row?.checksum !== file.checksum : row !== undefined) break;
      n++;
    }
    return n;
  }

  /**
   * Runs `fn` in a write transaction with foreign-key enforcement off (SQLite's documented way
   * to change schemas: no ON DELETE CASCADE fires when a parent table is dropped or rebuilt).
   * An error of a prelude statement comes out as a StageError with the guard-start role.
   */
  async inTransaction<T>(prelude: InStatement[], fn: (tx: Transaction) => Promise<T>): Promise<T> {
    // Local: one pooled connection, so the pragma set here holds for the transaction below.
    if (!this.db.remote) await this.db.client.execute("PRAGMA foreign_keys = OFF");
    const tx = await this.db.client.transaction("write");
    try {
      // Remote: the pragma is ignored inside a transaction, and @libsql/client begins one at
      // once: end it, switch enforcement off on this stream, and begin again — with the prelude
      // and the check that enforcement is off, in the same round trip.
      const restart = this.db.remote ? ["ROLLBACK", "PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE"] : [];
      const results = await tx.batch([...restart, ...prelude, "PRAGMA foreign_keys"]).catch((e) => {
        const i = (e as { statementIndex?: number }).statementIndex;
        throw new StageError(i !== undefined && i >= restart.length && i < restart.length + prelude.length ? { kind: "guard-start" } : undefined, e);
      });
      const fk = results[results.length - 1]!;
      if (Number(fk.rows[0]?.[0] ?? 0) !== 0) throw enforcementError(this.db.displayUrl);
      const result = await fn(tx);
      await tx.commit();
      return result;
    } finally {
      tx.close();
    }
  }

  /** no-transaction migrations: record "started", run each statement, then record the end. */
  private async runWithoutTransaction(file: MigrationFile, direction: Direction, step: LoadedStep): Promise<void> {
    const client = this.db.client;
    const started = performance.now();
    const mark = direction === "up"
      ? this.store.insertApplied({ version: file.version, name: file.name, checksum: file.checksum, state: "started", appliedBy: this.me.holder })
      : this.store.markStarted(file.version);
    try {
      await client.execute(mark);
    } catch (e) {
      throw describeDbError(e, this.db.displayUrl);
    }
    if (step.kind === "sql") {
      for (const [i, s] of step.statements.entries()) {
        try {
          await client.execute(s.sql);
        } catch (e) {
          throw statementError(e, file, direction, step, i, true);
        }
      }
    } else {
      try {
        await step.run(client);
      } catch (e) {
        throw tsError(e, step.file, direction, true);
      }
    }
    const finish = direction === "up" ? this.store.markApplied(file.version, Math.round(performance.now() - started)) : this.store.deleteApplied(file.version);
    await client.execute(finish);
  }

  /** Re-runs the step in a transaction that is rolled back, to name the violating rows. */
  private async foreignKeyError(file: MigrationFile, direction: Direction, step: LoadedStep): Promise<StrataError> {
    let report: { table: string; rowid: unknown; parent: string }[] = [];
    try {
      await this.inTransaction([], async (tx) => {
        if (step.kind === "sql") for (const s of step.statements) await tx.execute(s.sql);
        else await step.run(tx);
        const rs = await tx.execute(VIOLATION_REPORT);
        report = rs.rows.map((r) => ({ table: String(r.table), rowid: r.rowid, parent: String(r.parent) }));
        throw new RollbackSignal();
      });
    } catch (e) {
      if (!(e instanceof RollbackSignal)) this.logger.debug(`could not collect foreign key violations: ${messageOf(e)}`);
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

/** Re-runs of one migration after a lost answer or a server-side rollback. */
export const MAX_RERUNS = 3;

class RollbackSignal extends Error {}

function checkAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new StrataError("interrupted", "interrupted: no further migration was started", {
    hint: "the migrations reported before this line are committed; run `strata up` again to continue",
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
