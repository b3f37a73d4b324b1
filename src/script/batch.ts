/**
 * `updateInBatches`: the data-migration helper strata hands a TS migration (the second argument
 * of up()/down(), and exported from "strata"). It walks a table in key order, a bounded page at a
 * time (keyset pagination: `WHERE key > last ORDER BY key LIMIT n`, never OFFSET), hands each row
 * to the caller's function and writes the page back with `UPDATE … FROM json_each(…)`: one
 * statement per run of consecutive integer keys, else one for the page. Why this shape:
 *
 * - Memory stays flat: only one page is alive at a time, whatever the table's size.
 * - A few statements per page, not one per row: @libsql/client prepares every statement again
 *   (libsql-client-ts#333), and on a local file a prepared statement keeps its bound arguments
 *   until the connection closes (garbage collection does not free them) — what made row-by-row
 *   `tx.batch` reach 2.5 GB for 1M rows. The write goes through executeMultiple (see below).
 * - The page is read as one JSON string (`json_group_array`): one value to convert instead of a
 *   Row object per row, about 5× cheaper to read.
 *
 * It runs on the handle it is given (strata's guarded transaction), so a failure anywhere rolls
 * back every page with the rest of the migration.
 */
import type { Client, Transaction } from "@libsql/client";
import { StrataError } from "../errors.ts";

type Executor = Pick<Transaction | Client, "execute" | "executeMultiple">;

/** A value read from, or written to, a column through JSON: text, number, boolean (as 0/1) or null. */
export type BatchValue = string | number | boolean | bigint | null;
export type BatchRow = Record<string, BatchValue>;

export interface UpdateInBatchesOptions {
  /** The table to walk. */
  table: string;
  /** The columns `update` returns values for (never the key). */
  set: string[];
  /** The columns `update` receives (the key is always there too); defaults to `set`. */
  read?: string[];
  /** An SQL condition limiting the rows visited, e.g. `"v IS NULL"`. No parameters. */
  where?: string;
  /** Rows per page, 1…100,000; default 5,000. */
  batchSize?: number;
  /** The new values of a row's `set` columns, or null/undefined to leave the row as it is. */
  update: (row: BatchRow) => BatchRow | null | undefined;
}

export interface UpdateInBatchesResult {
  /** Rows `update` was called for. */
  visited: number;
  /** Rows written back. */
  updated: number;
  pages: number;
}

/** What a TS migration receives as the second argument of up()/down(). */
export interface MigrationHelpers {
  updateInBatches(options: UpdateInBatchesOptions): Promise<UpdateInBatchesResult>;
}

export function migrationHelpers(tx: Executor): MigrationHelpers {
  return { updateInBatches: (options) => updateInBatches(tx, options) };
}

const DEFAULT_BATCH = 5000;

const MAX_BATCH = 100_000;

function quoteId(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function usage(message: string, hint?: string): StrataError {
  return new StrataError("migrations", `updateInBatches: ${message}`, hint === undefined ? {} : { hint });
}

/** The column that orders and identifies rows: rowid, or the single-column primary key of a WITHOUT ROWID table. */
async function keyOf(tx: Executor, table: string): Promise<{ key: string; columns: Set<string>; keyAsText: boolean }> {
  const list = await tx.execute({ sql: "SELECT type, wr FROM pragma_table_list WHERE name = ? AND schema = 'main'", args: [table] });
  const info = list.rows[0];
  if (!info || info["type"] !== "table") throw usage(`no table named "${table}"`);
  const cols = await tx.execute({ sql: "SELECT name, type, pk FROM pragma_table_info(?)", args: [table] });
  const columns = new Set(cols.rows.map((r) => String(r["name"])));
  const pk = cols.rows.filter((r) => Number(r["pk"]) > 0);
  if (Number(info["wr"]) === 0) {
    // An INTEGER PRIMARY KEY column is the rowid under its own name: rows arrive with it.
    if (pk.length === 1 && String(pk[0]!["type"]).toUpperCase() === "INTEGER") return { key: String(pk[0]!["name"]), columns, keyAsText: true };
    if (columns.has("rowid")) throw usage(`"${table}" has a column named rowid, which hides the row's key`);
    return { key: "rowid", columns, keyAsText: true };
  }
  if (pk.length !== 1) {
    throw usage(`"${table}" is a WITHOUT ROWID table with a ${pk.length}-column primary key; only a single-column key can be paged`, "page it yourself with a row-value condition, or write the change as one UPDATE");
  }
  return { key: String(pk[0]!["name"]), columns, keyAsText: keyTravelsAsText(String(pk[0]!["type"])) };
}

/**
 * Whether the key can travel as a JSON object's member name (text) and still find its row: yes
 * when the column has integer, real, numeric or text affinity (datatype3.html §3.1, the rowid
 * included), since the comparison converts the text back and no two stored keys share a text
 * form. A key column without affinity (declared BLOB or no type) can hold both 5 and '5'.
 */
function keyTravelsAsText(declaredType: string): boolean {
  const t = declaredType.toUpperCase();
  return /INT|CHAR|CLOB|TEXT/.test(t) || !(t.includes("BLOB") || t.trim() === "");
}

/** JSON for a written value: bigints as numbers (or text beyond 2^53, which the column's affinity turns back into an integer). */
function jsonReplacer(_: string, v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) throw usage("BLOB values cannot be written (the page travels as JSON)");
  return v;
}

function jsonValue(v: unknown): string {
  // The common cases without JSON.stringify's call and replacer: same text it would write.
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "string") return JSON.stringify(v);
  return JSON.stringify(v, jsonReplacer) ?? "null";
}

export async function updateInBatches(tx: Executor, options: UpdateInBatchesOptions): Promise<UpdateInBatchesResult> {
  const { table, set, update } = options;
  const read = options.read ?? set;
  const size = options.batchSize ?? DEFAULT_BATCH;
  if (typeof table !== "string" || table === "") throw usage("table must be a table name");
  if (!Array.isArray(set) || set.length === 0) throw usage("set must name at least one column");
  if (typeof update !== "function") throw usage("update must be a function (row) => new values");
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH) throw usage(`batchSize must be a whole number from 1 to ${MAX_BATCH}, got ${String(size)}`);
  const { key, columns, keyAsText } = await keyOf(tx, table);
  for (const c of [...set, ...read]) {
    if (!columns.has(c)) throw usage(`"${table}" has no column "${c}"`);
  }
  if (set.includes(key)) throw usage(`set cannot change the key column "${key}"`, "the walk is ordered by it");

  const t = quoteId(table);
  const k = quoteId(key);
  const where = options.where === undefined ? "" : ` AND (${options.where})`;
  const readColumns = [k, ...read.map(quoteId)];
  // Column-major: one flat JSON array per column ([[keys…], [col1…], …]) is cheaper to build
  // and to parse than an array per row.
  const page = (after: boolean) =>
    `SELECT json_array(${readColumns.map((c) => `json_group_array(${c})`).join(", ")}) FROM ` +
    `(SELECT ${readColumns.join(", ")} FROM ${t} WHERE ${after ? `${k} > ?` : "1"}${where} ORDER BY ${k} LIMIT ?)`;
  const firstSql = page(false);
  const nextSql = page(true);
  const write = pageWriter(t, k, set, keyAsText);

  const result: UpdateInBatchesResult = { visited: 0, updated: 0, pages: 0 };
  let last: BatchValue | undefined;
  for (;;) {
    const rs = await tx.execute(last === undefined ? { sql: firstSql, args: [size] } : { sql: nextSql, args: [last, size] });
    const [keys, ...values] = JSON.parse(String(rs.rows[0]![0])) as [BatchValue[], ...BatchValue[][]];
    const n = keys.length;
    if (n === 0) break;
    result.pages++;
    // JSON numbers are doubles: a key beyond ±2^53 comes back rounded (the page is in key order, so its ends tell).
    for (const end of [keys[0], keys[n - 1]]) {
      if (typeof end === "number" && Number.isInteger(end) && !Number.isSafeInteger(end)) {
        throw usage(`"${table}" has keys beyond ±2^53 (${key} ≈ ${end}), which cannot be paged exactly`);
      }
    }
    const changedKeys: BatchValue[] = [];
    const newValues: unknown[] = [];
    for (let r = 0; r < n; r++) {
      const id = keys[r]!;
      const row: BatchRow = { [key]: id };
      for (let i = 0; i < read.length; i++) row[read[i]!] = values[i]![r]!;
      const next = update(row);
      if (next === null || next === undefined) continue;
      for (const c of set) {
        if (!(c in next)) throw usage(`update() returned no value for "${c}" (row ${key} = ${String(id)})`, "return every column named in set, or null to skip the row");
      }
      changedKeys.push(id);
      newValues.push(write.valueOf(next));
    }
    result.visited += n;
    if (changedKeys.length > 0) {
      // executeMultiple, the page inlined as a literal: a statement prepared through execute()
      // keeps its bound arguments until the connection closes (measured: +62 KB per 5,000-row
      // page, 1M → 5M rows 114 → 180 MB), while exec() finalizes what it ran. Every key in
      // the page was just read in this transaction, so each one updates exactly one row.
      await tx.executeMultiple(write.sql(changedKeys, newValues));
      result.updated += changedKeys.length;
    }
    last = keys[n - 1]!;
    if (n < size) break;
  }
  return result;
}

/** Runs of consecutive integer keys shorter than this, on average, are written in the keyed form instead. */
const MIN_RUN = 32;

/**
 * How a page's changes are written back, as one script of UPDATE … FROM json_each statements.
 * Keys that are consecutive integers (the usual rowid table) travel as nothing but their first
 * value: `[values…]` joined on `first + j.key`, one statement per run, about a fifth less write
 * time than the keyed forms (json_each builds no member names, and the values are one
 * JSON.stringify). Otherwise, where the key can travel as text, an object keyed by it,
 * `{"<key>": value}`, joined on json_each's `key`; a key without affinity keeps `[[key, values…], …]`.
 */
function pageWriter(t: string, k: string, set: string[], keyAsText: boolean) {
  const one = set.length === 1;
  const only = set[0]!;
  // SET for a j.value that is the new value (one column) or an array of them starting at index `first`.
  const assign = (first: number) => (one ? `${quoteId(only)} = j.value` : set.map((c, i) => `${quoteId(c)} = j.value ->> ${i + first}`).join(", "));
  const byValue = assign(0);
  const afterKey = assign(1);
  const update = (json: string, assignments: string, match: string) =>
    `UPDATE ${t} SET ${assignments} FROM json_each('${json.includes("'") ? json.replace(/'/g, "''") : json}') AS j WHERE ${t}.${k} = ${match}`;
  // A changed row's values as comma-separated JSON, in set's order.
  const listed = (v: unknown) => (one ? jsonValue(v) : (v as unknown[]).map(jsonValue).join(","));
  return {
    /** What a changed row contributes: its new value (one column in set) or its values in set's order. */
    valueOf: (next: BatchRow): unknown => (one ? next[only] : set.map((c) => next[c])),
    sql: (keys: BatchValue[], values: unknown[]): string => {
      const runs = integerRuns(keys);
      if (runs !== undefined) {
        return runs.map(([from, to]) => update(jsonArray(values.slice(from, to)), byValue, `${keys[from] as number} + j.key`)).join(";\n");
      }
      let json = "";
      for (let i = 0; i < keys.length; i++) {
        const id = keys[i]!;
        const sep = i === 0 ? "" : ",";
        if (!keyAsText) json += `${sep}[${jsonValue(id)},${listed(values[i])}]`;
        else json += `${sep}${typeof id === "string" ? JSON.stringify(id) : `"${String(id)}"`}:${one ? listed(values[i]) : `[${listed(values[i])}]`}`;
      }
      return keyAsText ? update(`{${json}}`, byValue, "j.key") : update(`[${json}]`, afterKey, "j.value ->> 0");
    },
  };
}

/** The page's keys as runs of consecutive safe integers, [from, to) indexes; undefined when they are not integers or the runs are short. */
function integerRuns(keys: BatchValue[]): [number, number][] | undefined {
  const runs: [number, number][] = [];
  let from = 0;
  for (let i = 0; i < keys.length; i++) {
    const id = keys[i];
    if (typeof id !== "number" || !Number.isSafeInteger(id)) return undefined;
    if (i > from && id !== (keys[i - 1] as number) + 1) {
      runs.push([from, i]);
      from = i;
    }
  }
  runs.push([from, keys.length]);
  return runs.length === 1 || runs.length * MIN_RUN <= keys.length ? runs : undefined;
}

/** JSON.stringify of a page's values, with the replacer (bigints, BLOB refusal) only when a value needs it. */
function jsonArray(values: unknown[]): string {
  const plain = (v: unknown) => typeof v === "number" || typeof v === "string" || typeof v === "boolean" || v === null;
  for (const v of values) {
    if (!plain(v) && !(Array.isArray(v) && v.every(plain))) return JSON.stringify(values, jsonReplacer);
  }
  return JSON.stringify(values);
}
