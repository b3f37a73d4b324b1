/**
 * All SQL for strata's own tables lives here: the version table (one row per applied
 * migration), the run lock (one row while a runner holds it) and the audit log.
 * Names derive from --table: `<table>`, `<table>_lock`, `<table>_log`, and `<table>_guard`
 * (the integrity guard's scratch row, empty outside a migration's transaction; see guard.ts).
 */
import type { InStatement, Row } from "@libsql/client";
import { guardTableSql } from "./guard.ts";
import { redactSecrets } from "../output/redact.ts";

export type MigrationState = "applied" | "started";

export interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
  appliedAt: string;
  durationMs: number;
  /** "started": a no-transaction migration that began and never recorded its end. */
  state: MigrationState;
  /** The runner (Identity.holder) that applied it; undefined for rows stamped or from older strata. */
  appliedBy?: string | undefined;
}

export interface LockRow {
  holder: string;
  host: string;
  pid: number;
  strataVersion: string;
  command: string;
  startedAt: string;
  expiresAt: string;
  expired: boolean;
}

export interface LogEntry {
  command: string;
  versions: string[];
  result: "ok" | "error";
  durationMs: number;
  message?: string;
}

export interface Identity {
  holder: string;
  user: string;
  host: string;
  pid: number;
  strataVersion: string;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** SQLite's clock, so runners on machines with skewed clocks agree on lease expiry. */
const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

export class Store {
  readonly table: string;
  private readonly t: string;
  private readonly lock: string;
  private readonly log: string;
  /** The guard's table, quoted (guard.ts). */
  readonly guard: string;

  constructor(table: string) {
    this.table = table;
    this.t = quoteIdent(table);
    this.lock = quoteIdent(table + "_lock");
    this.log = quoteIdent(table + "_log");
    this.guard = quoteIdent(table + "_guard");
  }

  /** Names of strata's own tables, which schema tools must ignore. */
  get ownTables(): string[] {
    return [this.table, this.table + "_lock", this.table + "_log", this.table + "_guard"];
  }

  createTables(): InStatement[] {
    return [
      `CREATE TABLE IF NOT EXISTS ${this.t} (
  version TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'started')),
  applied_by TEXT
)`,
      `CREATE TABLE IF NOT EXISTS ${this.lock} (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  holder TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  strata_version TEXT NOT NULL,
  command TEXT NOT NULL,
  started_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
)`,
      `CREATE TABLE IF NOT EXISTS ${this.log} (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  user_host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  strata_version TEXT NOT NULL,
  command TEXT NOT NULL,
  versions TEXT NOT NULL,
  result TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  message TEXT
)`,
      guardTableSql(this.guard),
    ];
  }

  /** 1 when the version table has the applied_by column (tables from older strata lack it). */
  hasAppliedByColumn(): InStatement {
    return { sql: "SELECT count(*) AS n FROM pragma_table_info(?) WHERE name = 'applied_by'", args: [this.table] };
  }

  /** Brings a version table of an older strata up to date (run once, under the lock). */
  addAppliedByColumn(): InStatement {
    return `ALTER TABLE ${this.t} ADD COLUMN applied_by TEXT`;
  }

  /** The rows of some versions with the runner that wrote them: the read-back after a commit. */
  selectVersionRows(versions: string[]): InStatement {
    return { sql: `SELECT version, applied_by FROM ${this.t} WHERE version IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(versions)] };
  }

  selectApplied(): InStatement {
    // Each column cast to AppliedRow's type under its name, so that a row needs no conversion (the
    // start-up fast path uses the rows as they come). Ordered by the key's index: for versions of
    // one width that is discovery's order, and reconcile() lines the two up in one pass.
    return `SELECT CAST(version AS TEXT) AS version, CAST(name AS TEXT) AS name, CAST(checksum AS TEXT) AS checksum,
CAST(applied_at AS TEXT) AS appliedAt, CAST(duration_ms AS INTEGER) AS durationMs,
CASE state WHEN 'started' THEN 'started' ELSE 'applied' END AS state
FROM ${this.t} ORDER BY version`;
  }

  selectLock(): InStatement {
    return `SELECT holder, host, pid, strata_version, command, started_at, expires_at, expires_at < ${NOW} AS expired FROM ${this.lock} WHERE id = 1`;
  }

  /**
   * Take the lock when it is free, expired, or already ours. `force` takes it from a named
   * holder (a dead process on this host).
   */
  acquireLock(me: Identity, command: string, leaseMs: number, forceFrom?: string): InStatement {
    return {
      sql: `INSERT INTO ${this.lock} (id, holder, host, pid, strata_version, command, started_at, expires_at)
VALUES (1, ?, ?, ?, ?, ?, ${NOW}, strftime('%Y-%m-%dT%H:%M:%fZ','now', ?))
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
  strata_version = excluded.strata_version, command = excluded.command, started_at = excluded.started_at,
  expires_at = excluded.expires_at
WHERE ${this.lock}.expires_at < ${NOW} OR ${this.lock}.holder = excluded.holder OR ${this.lock}.holder = ?`,
      args: [me.holder, me.host, me.pid, me.strataVersion, command, leaseModifier(leaseMs), forceFrom ?? null],
    };
  }

  renewLock(me: Identity, leaseMs: number): InStatement {
    return {
      sql: `UPDATE ${this.lock} SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ','now', ?) WHERE id = 1 AND holder = ?`,
      args: [leaseModifier(leaseMs), me.holder],
    };
  }

  releaseLock(me: Identity): InStatement {
    return { sql: `DELETE FROM ${this.lock} WHERE id = 1 AND holder = ?`, args: [me.holder] };
  }

  clearLock(): InStatement {
    return `DELETE FROM ${this.lock}`;
  }

  /** `durationSql`: an SQL expression for duration_ms, evaluated when the row is written. */
  insertApplied(row: Omit<AppliedRow, "appliedAt" | "durationMs">, durationSql = "0"): InStatement {
    return {
      sql: `INSERT INTO ${this.t} (version, name, checksum, applied_at, duration_ms, state, applied_by) VALUES (?, ?, ?, ${NOW}, ${durationSql}, ?, ?)`,
      args: [row.version, row.name, row.checksum, row.state, row.appliedBy ?? null],
    };
  }

  /** Marks an applied no-transaction migration as started on its way down. */
  markStarted(version: string): InStatement {
    return { sql: `UPDATE ${this.t} SET state = 'started' WHERE version = ?`, args: [version] };
  }

  /**
   * The state read as one batch whose failing position says what is missing: a probe of a table
   * fails only when the table does not exist, the select after it only when its columns differ.
   * [probe version table, versions, probe lock table, lock]
   */
  readStateBatch(): InStatement[] {
    return [`SELECT 1 FROM ${this.t} LIMIT 0`, this.selectApplied(), `SELECT 1 FROM ${this.lock} LIMIT 0`, this.selectLock()];
  }

  /** Marks a started no-transaction migration as finished. */
  markApplied(version: string, durationMs: number): InStatement {
    return {
      sql: `UPDATE ${this.t} SET state = 'applied', duration_ms = ?, applied_at = ${NOW} WHERE version = ?`,
      args: [durationMs, version],
    };
  }

  /** Upsert used by stamp and resolve: record a version as applied without running it. */
  stampApplied(version: string, name: string, checksum: string, by: string): InStatement {
    return {
      sql: `INSERT INTO ${this.t} (version, name, checksum, applied_at, duration_ms, state, applied_by) VALUES (?, ?, ?, ${NOW}, 0, 'applied', ?)
ON CONFLICT (version) DO UPDATE SET name = excluded.name, checksum = excluded.checksum, state = 'applied', applied_by = excluded.applied_by`,
      args: [version, name, checksum, by],
    };
  }

  updateChecksum(version: string, checksum: string): InStatement {
    return { sql: `UPDATE ${this.t} SET checksum = ? WHERE version = ?`, args: [checksum, version] };
  }

  deleteApplied(version: string): InStatement {
    return { sql: `DELETE FROM ${this.t} WHERE version = ?`, args: [version] };
  }

  appendLog(me: Identity, entry: LogEntry): InStatement {
    return {
      sql: `INSERT INTO ${this.log} (at, user_host, pid, strata_version, command, versions, result, duration_ms, message)
VALUES (${NOW}, ?, ?, ?, ?, ?, ?, ?, ?)`,
      args: [
        `${me.user}@${me.host}`,
        me.pid,
        me.strataVersion,
        entry.command,
        JSON.stringify(entry.versions),
        entry.result,
        Math.round(entry.durationMs),
        entry.message === undefined ? null : redactSecrets(entry.message), // the audit row is output too
      ],
    };
  }

  selectLog(limit: number): InStatement {
    return {
      sql: `SELECT id, at, user_host, pid, strata_version, command, versions, result, duration_ms, message FROM ${this.log} ORDER BY id DESC LIMIT ?`,
      args: [limit],
    };
  }
}

function leaseModifier(ms: number): string {
  return `+${(ms / 1000).toFixed(3)} seconds`;
}

export function toAppliedRow(r: Row): AppliedRow {
  return {
    version: String(r.version),
    name: String(r.name),
    checksum: String(r.checksum),
    appliedAt: String(r.appliedAt),
    durationMs: Number(r.durationMs),
    state: r.state === "started" ? "started" : "applied",
  };
}

export function toLockRow(r: Row): LockRow {
  return {
    holder: String(r.holder),
    host: String(r.host),
    pid: Number(r.pid),
    strataVersion: String(r.strata_version),
    command: String(r.command),
    startedAt: String(r.started_at),
    expiresAt: String(r.expires_at),
    expired: Number(r.expired) === 1,
  };
}
