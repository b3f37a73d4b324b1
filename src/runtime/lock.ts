/**
 * The run lock (one row in `<table>_lock`, with a lease), its release, and the audit log row
 * written with the release. Taking the lock also creates strata's tables and reads the state
 * under it; each of these is one round trip.
 */
import os from "node:os";
import process from "node:process";
import type { InStatement, ResultSet } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { classifyError, describeDbError } from "../db/errors.ts";
import { buildInfo } from "../build-info.ts";
import { processAlive, sleep } from "../platform/process.ts";
import type { LeaseKeeper, Reads } from "./reads.ts";
import { confirmSteps, versionRowsOf, type VersionRows } from "./readback.ts";
import { toAppliedRow, toLockRow, type Identity, type LockRow, type LogEntry } from "./store.ts";
import type { DbState, LockInfo, StepResult } from "./types.ts";

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

export class RunLock implements LeaseKeeper {
  private leaseRenewedAt = 0;

  private readonly reads: Reads;
  readonly me: Identity;
  readonly leaseMs: number;

  constructor(reads: Reads, me: Identity, leaseMs: number) {
    this.reads = reads;
    this.me = me;
    this.leaseMs = leaseMs;
  }

  private get db() {
    return this.reads.db;
  }

  private get store() {
    return this.reads.store;
  }

  /**
   * Creates strata's tables if needed, takes the run lock (waiting up to the lock timeout) and
   * returns the state read under it: one round trip when the lock is free.
   */
  async lock(command: string): Promise<{ state: DbState; lock: LockInfo }> {
    const { logger, lockTimeoutMs } = this.reads;
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
        results = await this.reads.retryRead(() => this.db.client.batch(stmts, "write"));
      } catch (e) {
        // Another writer (a runner mid-migration, or a dead one's stream not yet expired on a
        // server) holds the database: keep waiting within the lock timeout.
        if (classifyError(e).class === "busy" && Date.now() - started < lockTimeoutMs) {
          if (!announced) logger.info(`waiting: ${this.db.displayUrl} is busy with another writer`);
          announced = true;
          waited = true;
          await sleep(200 + Math.random() * 300);
          continue;
        }
        throw this.reads.versionTableError(e);
      }
      const n = this.store.createTables().length;
      const before = results[n]!.rows[0] ? toLockRow(results[n]!.rows[0]) : undefined;
      const after = toLockRow(results[n + 2]!.rows[0]!);
      if (after.holder === this.me.holder) {
        const tookOver = before && before.holder !== this.me.holder ? before : undefined;
        if (tookOver) {
          logger.warn(
            `took over a stale lock held by ${tookOver.host} pid ${tookOver.pid} (${tookOver.command}, since ${tookOver.startedAt}${tookOver.expired ? ", lease expired" : ", process is gone"})`,
          );
        }
        this.leaseRenewedAt = Date.now();
        this.reads.lease = this;
        const applied = results[n + 3]!.rows.map(toAppliedRow);
        // A version table of an older strata: add the runner column, once, under the lock.
        if (Number(results[n + 4]!.rows[0]?.[0] ?? 0) === 0) await this.reads.retryRead(() => this.db.client.execute(this.store.addAppliedByColumn()));
        return { state: { applied, lock: after, initialized: true }, lock: { waited, tookOverFrom: tookOver } };
      }
      // Someone else holds it. A holder on this host whose process is gone can be taken at once.
      forceFrom = after.host === this.me.host && !processAlive(after.pid) ? after.holder : undefined;
      if (forceFrom) continue;
      if (Date.now() - started >= lockTimeoutMs) throw lockTimeoutError(after, lockTimeoutMs);
      if (!announced) {
        logger.info(`waiting for the migration lock held by ${after.host} pid ${after.pid} (${after.command})`);
        announced = true;
      }
      waited = true;
      await sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1000) * (0.5 + Math.random()));
    }
  }

  /**
   * The lease is renewed inside a migration's transaction once a quarter of it has passed:
   * often enough that a live runner never loses it, rarely enough to cost no write per
   * migration on fast runs.
   */
  /** A quarter of the lease has passed since it was last renewed. */
  private renewalDue(): boolean {
    return Date.now() - this.leaseRenewedAt >= this.leaseMs / 4;
  }

  lapsesAt(): number {
    return this.leaseRenewedAt + this.leaseMs;
  }

  /** Renewal on its own, for the waits between retries (see Reads.retryRead). */
  async renewIfDue(deadline: number): Promise<void> {
    if (!this.renewalDue()) return;
    let rs: ResultSet;
    try {
      rs = await this.db.withDeadline(deadline, () => this.db.client.execute(this.store.renewLock(this.me, this.leaseMs)));
    } catch {
      return; // still unreachable: the outage deadline stops the run before the lease lapses
    }
    if (rs.rowsAffected === 0) {
      throw new StrataError("state", "the migration lock was taken over by another runner while this one waited for the server", {
        hint: "nothing more is started by this run; `strata status` shows what is applied",
      });
    }
    this.leaseRenewedAt = Date.now();
  }

  leaseRenewal(): InStatement[] {
    if (!this.renewalDue()) return [];
    this.leaseRenewedAt = Date.now();
    return [this.store.renewLock(this.me, this.leaseMs)];
  }

  /** Releases the lock and appends the audit log row: one round trip. Never throws. */
  async unlockAndLog(entry: LogEntry): Promise<void> {
    try {
      await this.reads.retryRead(() => this.db.client.batch([this.store.releaseLock(this.me), this.store.appendLog(this.me, entry)], "write"));
    } catch (e) {
      this.warnNotReleased(e);
    } finally {
      this.reads.lease = undefined;
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
      const rs = await this.reads.retryRead(() => this.db.client.batch(stmts, "write"));
      rows = versionRowsOf(versions.length > 0 ? rs[0]!.rows : []);
    } catch (e) {
      const err = describeDbError(e, this.db.displayUrl);
      throw new StrataError(err.kind === "lock" ? "lock" : "unreachable", `could not read back the version rows of this run: ${err.message}`, {
        hint: "run `strata status` to see what is applied (the lock expires by itself)",
        cause: e,
        details: { unconfirmed: steps },
      });
    } finally {
      this.reads.lease = undefined;
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
      this.reads.lease = undefined;
      return result;
    } catch (e) {
      await this.unlockAndLog({ command, versions: [], result: "error", durationMs: performance.now() - started, message: messageOf(e) });
      throw e;
    }
  }

  /** Releases the lock without a log entry (nothing was attempted). Never throws. */
  async unlock(): Promise<void> {
    try {
      await this.reads.retryRead(() => this.db.client.execute(this.store.releaseLock(this.me)));
    } catch (e) {
      this.warnNotReleased(e);
    } finally {
      this.reads.lease = undefined;
    }
  }

  async appendLog(entry: LogEntry): Promise<void> {
    await this.db.client.batch([...this.store.createTables(), this.store.appendLog(this.me, entry)], "write");
  }

  private warnNotReleased(e: unknown): void {
    this.reads.logger.warn(`could not release the migration lock: ${messageOf(e)} (it expires by itself; \`strata unlock\` clears it)`);
  }
}

function lockTimeoutError(holder: LockRow, lockTimeoutMs: number): StrataError {
  return new StrataError("lock", `timed out after ${Math.round(lockTimeoutMs / 1000)}s waiting for the migration lock held by ${holder.host} pid ${holder.pid} (${holder.command}, since ${holder.startedAt})`, {
    hint: "another strata run is in progress; wait for it, raise --lock-timeout, or if it is dead run `strata unlock`",
    details: { holder },
  });
}
