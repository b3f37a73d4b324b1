/**
 * Database access for backup and restore, through src/db/connection.ts. The logical dump reads
 * integers as bigint (to tell INTEGER from REAL and keep 64-bit values exact).
 */
import type { Client, ResultSet, Transaction } from "@libsql/client";
import { createDbClient } from "../db/connection.ts";
import { quoteIdent } from "./sql-literal.ts";

/** A client or a transaction: `batch` sends its statements in one request (one transaction). */
export type Executor = Pick<Transaction, "execute" | "batch">;

export interface OpenClientOptions {
  authToken?: string | undefined;
  /** Local files: how long to wait for a lock (ms). */
  busyTimeoutMs?: number;
  intMode?: "bigint" | "number";
}

/** A client for `url` (file:, libsql:, http(s):, ws(s): or :memory:). */
export function openClient(url: string, options: OpenClientOptions = {}): Client {
  return createDbClient(url, { ...options, intMode: options.intMode ?? "bigint" });
}

export function fileUrl(file: string): string {
  return "file:" + file;
}

/** Whether a table of that name exists (SQLite's "no such table" has no code of its own). */
export async function tableExists(ex: Executor, name: string): Promise<boolean> {
  return (await ex.execute({ sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", args: [name] })).rows.length > 0;
}

/**
 * The migration version a database is at: the newest version recorded in strata's table
 * (applied or failed midway, as `strata current` counts them); null at base or without the table.
 * `exists`: whether the table exists, when the caller already knows (saves a request).
 */
export async function readVersion(ex: Executor, table: string, exists?: boolean): Promise<string | null> {
  if (!(exists ?? (await tableExists(ex, table)))) return null;
  const rs = await ex.execute(`SELECT version FROM ${quoteIdent(table)}`);
  let best: string | null = null;
  for (const r of rs.rows) {
    const v = String(r.version);
    if (!/^\d+$/.test(v)) continue;
    if (best === null || BigInt(v) > BigInt(best)) best = v;
  }
  return best;
}

export interface SchemaObject {
  type: "table" | "index" | "view" | "trigger";
  name: string;
  table: string;
  sql: string | null;
}

/** Everything in sqlite_schema except SQLite's own objects, in creation order. */
export const SCHEMA_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid";

export async function schemaObjects(ex: Executor): Promise<SchemaObject[]> {
  return schemaRows(await ex.execute(SCHEMA_SQL));
}

export function schemaRows(rs: ResultSet): SchemaObject[] {
  return rs.rows.map((r) => ({ type: String(r.type) as SchemaObject["type"], name: String(r.name), table: String(r.tbl_name), sql: r.sql === null ? null : String(r.sql) }));
}

/** Row counts of every table (not views), by name: one request per 200 tables. */
export async function countRows(ex: Executor, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < tables.length; i += 200) {
    const chunk = tables.slice(i, i + 200);
    const results = await ex.batch(chunk.map((t) => `SELECT count(*) AS n FROM ${quoteIdent(t)}`));
    chunk.forEach((t, j) => (out[t] = Number(results[j]!.rows[0]!.n)));
  }
  return out;
}

export type IntegrityCheck = "full" | "quick";

/** `PRAGMA integrity_check` (or `quick_check`): [] when the database is sound, else SQLite's findings. */
export async function integrityProblems(ex: Executor, check: IntegrityCheck = "full"): Promise<string[]> {
  const rs = await ex.execute(check === "full" ? "PRAGMA integrity_check" : "PRAGMA quick_check");
  const lines = rs.rows.map((r) => String(r[0]));
  return lines.length === 1 && lines[0] === "ok" ? [] : lines;
}

/** The name of strata's lock table, whose row is never carried into a backup or a restore. */
export function lockTableOf(table: string): string {
  return `${table}_lock`;
}

/** Compares row counts with the expected ones; a list of differences. */
export function countMismatches(expected: Record<string, number>, actual: Record<string, number>, ignore: string[] = []): string[] {
  const out: string[] = [];
  for (const [t, n] of Object.entries(expected)) {
    if (ignore.includes(t)) continue;
    if (actual[t] === undefined) out.push(`table ${t} is missing`);
    else if (actual[t] !== n) out.push(`${t}: ${actual[t]} rows, expected ${n}`);
  }
  for (const t of Object.keys(actual)) if (expected[t] === undefined && !ignore.includes(t)) out.push(`unexpected table ${t}`);
  return out;
}

/** Tables that hold data: not SQLite's own, not the shadow tables of virtual tables. */
export async function dataTables(ex: Executor): Promise<string[]> {
  let shadow = new Set<string>();
  try {
    const rs = await ex.execute("PRAGMA table_list");
    shadow = new Set(rs.rows.filter((r) => r.type === "shadow").map((r) => String(r.name).toLowerCase()));
  } catch {
    /* SQLite before 3.37: no shadow table detection */
  }
  return (await schemaObjects(ex)).filter((o) => o.type === "table" && !shadow.has(o.name.toLowerCase())).map((o) => o.name);
}
