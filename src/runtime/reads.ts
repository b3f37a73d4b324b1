/**
 * Reading the database state, and the retry policy every request of a run shares: reads are
 * retried with backoff on transport errors, within one outage budget (--lock-timeout) that
 * spans every retry loop of the command.
 */
import { StrataError, firstLine } from "../errors.ts";
import type { Database } from "../db/connection.ts";
import { classifyError, describeDbError, isTransportError, sqliteMessage } from "../db/errors.ts";
import type { Logger } from "../output/logger.ts";
import { sleep } from "../platform/process.ts";
import { toAppliedRow, toLockRow, type Store } from "./store.ts";
import type { DbState, PlannedRun } from "./types.ts";

export interface LogRow {
  id: number;
  at: string;
  userHost: string;
  pid: number;
  strataVersion: string;
  command: string;
  versions: string[];
  result: string;
  durationMs: number;
  message: string | undefined;
}

/**
 * The run lock's lease as the retry loops see it (implemented by RunLock): a wait for the
 * server renews the lease when it is due, and an outage never outlasts it unnoticed.
 */
export interface LeaseKeeper {
  /** Renews the lease if a quarter of it has passed; a failed renewal is left to the deadline. */
  renewIfDue(deadline: number): Promise<void>;
  /** When the lease lapses unless renewed (epoch ms). */
  lapsesAt(): number;
  readonly leaseMs: number;
}

/** An outage stops this long before the lease would lapse, so the lock is never lost unnoticed. */
const LEASE_MARGIN_MS = 5_000;

export class Reads {
  /** When the requests started failing in a row (transport errors), for the outage budget. */
  private outageSince: number | undefined;
  /** Set while this runner holds the run lock. */
  lease: LeaseKeeper | undefined;

  readonly db: Database;
  readonly store: Store;
  readonly logger: Logger;
  readonly lockTimeoutMs: number;

  constructor(db: Database, store: Store, logger: Logger, lockTimeoutMs: number) {
    this.db = db;
    this.store = store;
    this.logger = logger;
    this.lockTimeoutMs = lockTimeoutMs;
  }

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
  versionTableError(e: unknown): StrataError {
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
        if (i >= attempts || Date.now() + delay >= this.budgetDeadline()) throw describeDbError(e, this.db.displayUrl);
        this.logger.warn(`${firstLine(describeDbError(e, this.db.displayUrl).message)}; retrying in ${delay} ms`);
        await this.waitKeepingLease(delay, e);
        delay *= 3;
      }
    }
  }

  /** An answer was lost at `since`: the outage budget runs from then unless it already runs. */
  outageStarted(since: number): void {
    this.outageSince ??= since;
  }

  /** When the current outage's --lock-timeout budget ends (a fresh budget when nothing is failing). */
  private budgetDeadline(): number {
    return (this.outageSince ?? Date.now()) + this.lockTimeoutMs;
  }

  /**
   * The deadline for requests and re-runs: the outage budget and, while the run lock is held
   * during an outage, shortly before the lease would lapse — past that point another runner
   * may rightly take the lock over, so going on would no longer be safe.
   */
  outageDeadline(): number {
    const budget = this.budgetDeadline();
    if (this.outageSince === undefined || this.lease === undefined) return budget;
    return Math.min(budget, this.leaseSafeUntil(this.lease));
  }

  private leaseSafeUntil(lease: LeaseKeeper): number {
    return lease.lapsesAt() - Math.min(LEASE_MARGIN_MS, lease.leaseMs / 4);
  }

  /**
   * Sleeps between retries. A run that holds the lock wakes up every quarter lease to renew
   * it, and stops (with the outage's error) when the renewals don't get through either and the
   * lease is about to lapse.
   */
  private async waitKeepingLease(ms: number, cause: unknown): Promise<void> {
    const end = Date.now() + ms;
    for (let left = ms; left > 0; left = end - Date.now()) {
      const lease = this.lease;
      await sleep(lease ? Math.min(left, lease.leaseMs / 4) : left);
      if (!lease) continue;
      await lease.renewIfDue(this.outageDeadline());
      if (Date.now() >= this.leaseSafeUntil(lease)) {
        const err = describeDbError(cause, this.db.displayUrl);
        throw new StrataError(err.kind, `${err.message}; stopped before the migration lock's lease lapses`, { hint: err.hint, cause });
      }
    }
  }

  async readLog(limit: number): Promise<LogRow[]> {
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

  /** How many of `items`, in order, the version table records as done: one read, retried (after a lost answer). */
  async committedCount(items: PlannedRun[]): Promise<number> {
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
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
