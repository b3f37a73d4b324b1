/**
 * The logical dump of a database (the remote backup): schema and rows as SQL statements, read
 * with keyset pagination so memory stays bounded whatever the table sizes.
 *
 * Order, so that a plain `sqlite3 new.db < dump.sql` also loads it:
 *   PRAGMA foreign_keys=OFF; BEGIN;
 *   per table: CREATE TABLE, then its rows (one INSERT per row, one row per line);
 *   sqlite_sequence (AUTOINCREMENT high-water marks);
 *   indexes, views, triggers (after the rows: faster, and no trigger fires during the load);
 *   COMMIT; and a trailer comment with the statement and row counts, so truncation is detected.
 *
 * Pages are read by rowid (or by primary key for WITHOUT ROWID tables), never with OFFSET. A
 * page starts at 64 rows and grows to 1000 while pages stay under ~4 MB of SQL; wide rows
 * (blobs) shrink it, so one page never holds much more than that.
 */
import fs from "node:fs";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { InValue } from "@libsql/client";
import type { Logger } from "../output/logger.ts";
import { messageOf } from "../errors.ts";
import { schemaObjects, type Executor, type SchemaObject } from "./db.ts";
import { quoteIdent, sqlLiteral } from "./sql-literal.ts";
import { FILE_MODE } from "./files.ts";

export interface DumpStatement {
  sql: string;
  /** Row INSERTs: the table the row belongs to. */
  table?: string;
  /** CREATE TABLE statements: the table created. */
  creates?: string;
}

export interface DumpOptions {
  /** Tables whose rows are left out (strata's lock table). */
  skipRowsOf?: string[];
  /** Target size of one page of rows, in bytes of SQL. */
  pageBytes?: number;
  maxPageRows?: number;
  logger?: Logger;
}

const FIRST_PAGE_ROWS = 64;
const MAX_PAGE_ROWS = 1000;
const PAGE_BYTES = 1 << 20;

export async function* dumpStatements(ex: Executor, options: DumpOptions = {}): AsyncGenerator<DumpStatement> {
  const skip = new Set((options.skipRowsOf ?? []).map((t) => t.toLowerCase()));
  const objects = await schemaObjects(ex);
  const shadow = await shadowTables(ex);
  const tables = objects.filter((o) => o.type === "table" && o.sql !== null && !shadow.has(o.name.toLowerCase()));

  yield { sql: "PRAGMA foreign_keys=OFF" };
  yield { sql: "BEGIN TRANSACTION" };
  for (const t of tables) {
    yield { sql: t.sql!, creates: t.name };
    if (skip.has(t.name.toLowerCase())) continue;
    yield* rowsOf(ex, t, options);
  }
  if (tables.some((t) => /\bAUTOINCREMENT\b/i.test(t.sql!))) {
    const names = new Set(tables.map((t) => t.name.toLowerCase()));
    yield { sql: 'DELETE FROM "sqlite_sequence"' };
    const seq = await ex.execute('SELECT name, seq FROM "sqlite_sequence"');
    for (const r of seq.rows) {
      if (!names.has(String(r.name).toLowerCase())) continue;
      yield { sql: `INSERT INTO "sqlite_sequence"("name","seq") VALUES(${sqlLiteral(r.name)},${sqlLiteral(r.seq)})` };
    }
  }
  for (const type of ["index", "view", "trigger"] as const) {
    for (const o of objects) if (o.type === type && o.sql !== null && !shadow.has(o.table.toLowerCase())) yield { sql: o.sql };
  }
  yield { sql: "COMMIT" };
}

/** Shadow tables of virtual tables (FTS, R*Tree…): recreated by CREATE VIRTUAL TABLE. */
async function shadowTables(ex: Executor): Promise<Set<string>> {
  try {
    const rs = await ex.execute("PRAGMA table_list");
    return new Set(rs.rows.filter((r) => r.type === "shadow").map((r) => String(r.name).toLowerCase()));
  } catch {
    return new Set();
  }
}

interface Column {
  name: string;
  type: string;
  pk: number;
}

async function* rowsOf(ex: Executor, t: SchemaObject, options: DumpOptions): AsyncGenerator<DumpStatement> {
  const name = quoteIdent(t.name);
  const info = await ex.execute(`PRAGMA table_xinfo(${name})`);
  const all = info.rows.map((r) => ({ name: String(r.name), type: String(r.type ?? ""), pk: Number(r.pk), hidden: Number(r.hidden) }));
  // Generated (2, 3) and hidden virtual-table (1) columns cannot be inserted.
  const columns: Column[] = all.filter((c) => c.hidden === 0);
  const virtual = /^\s*CREATE\s+VIRTUAL\b/i.test(t.sql!);
  const withoutRowid = /\)\s*(?:STRICT\s*,\s*)?WITHOUT\s+ROWID\s*(?:,\s*STRICT\s*)?$/i.test(t.sql!.trim());
  const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  const taken = new Set(all.map((c) => c.name.toLowerCase()));

  let keys: string[]; // key expressions, selected first
  let insertKey: boolean; // the rowid is written too (no INTEGER PRIMARY KEY holds it)
  if (withoutRowid) {
    keys = pk.map((c) => quoteIdent(c.name));
    insertKey = false;
  } else {
    const rowid = ["rowid", "_rowid_", "oid"].find((n) => !taken.has(n));
    const alias = pk.length === 1 && pk[0]!.type.toUpperCase() === "INTEGER" ? pk[0]!.name : undefined;
    if (rowid === undefined && alias === undefined) {
      yield* offsetPages(ex, t, columns, options);
      return;
    }
    keys = [alias !== undefined ? quoteIdent(alias) : rowid!];
    insertKey = alias === undefined;
  }

  const selectList = [...keys, ...columns.map((c) => quoteIdent(c.name))].join(", ");
  const insertColumns = [...(insertKey ? [keys[0]!] : []), ...columns.map((c) => quoteIdent(c.name))];
  const prefix = `INSERT INTO ${name}(${insertColumns.join(",")}) VALUES(`;
  const keyTuple = keys.length === 1 ? keys[0]! : `(${keys.join(", ")})`;
  const order = keys.join(", ");
  const budget = options.pageBytes ?? PAGE_BYTES;
  const maxRows = options.maxPageRows ?? MAX_PAGE_ROWS;
  let limit = Math.min(FIRST_PAGE_ROWS, maxRows);
  let after: InValue[] | undefined;

  for (;;) {
    const where = after === undefined ? "" : ` WHERE ${keyTuple} > ${keys.length === 1 ? "?" : `(${keys.map(() => "?").join(", ")})`}`;
    let rs;
    try {
      rs = await ex.execute({ sql: `SELECT ${selectList} FROM ${name}${where} ORDER BY ${order} LIMIT ?`, args: [...(after ?? []), limit] });
    } catch (e) {
      if (!virtual) throw e;
      options.logger?.warn(`cannot read the rows of virtual table ${t.name} (${messageOf(e)}); only its definition is backed up`);
      return;
    }
    let bytes = 0;
    const k = keys.length;
    for (const row of rs.rows) {
      const values: string[] = [];
      const from = insertKey ? 0 : k;
      for (let i = from; i < k + columns.length; i++) values.push(sqlLiteral(row[i]));
      const sql = prefix + values.join(",") + ")";
      bytes += sql.length;
      yield { sql, table: t.name };
    }
    if (rs.rows.length < limit) return;
    const last = rs.rows[rs.rows.length - 1]!;
    after = keys.map((_, i) => last[i] as InValue);
    // Next page: aim at the byte budget, never more than maxRows.
    const perRow = Math.max(1, bytes / rs.rows.length);
    limit = Math.max(1, Math.min(maxRows, Math.floor(budget / perRow), limit * 4));
  }
}

/** Rowid tables whose rowid names are all taken by columns: LIMIT/OFFSET in table order. */
async function* offsetPages(ex: Executor, t: SchemaObject, columns: Column[], options: DumpOptions): AsyncGenerator<DumpStatement> {
  options.logger?.warn(`table ${t.name} has columns named rowid, _rowid_ and oid: its rows are read with OFFSET and get new rowids on restore`);
  const name = quoteIdent(t.name);
  const list = columns.map((c) => quoteIdent(c.name)).join(", ");
  const prefix = `INSERT INTO ${name}(${columns.map((c) => quoteIdent(c.name)).join(",")}) VALUES(`;
  const limit = 100;
  for (let offset = 0; ; offset += limit) {
    const rs = await ex.execute({ sql: `SELECT ${list} FROM ${name} LIMIT ? OFFSET ?`, args: [limit, offset] });
    for (const row of rs.rows) yield { sql: prefix + columns.map((_, i) => sqlLiteral(row[i])).join(",") + ")", table: t.name };
    if (rs.rows.length < limit) return;
  }
}

export interface DumpFileResult {
  tables: Record<string, number>;
  rows: number;
  statements: number;
  sha256: string;
  size: number;
}

export interface DumpFileOptions extends DumpOptions {
  /** Comment lines written first (without the leading "-- "). */
  header: string[];
  onProgress?: (rows: number, bytes: number, table: string | undefined) => void;
}

export const TRAILER = "-- strata:end";

/**
 * Writes text through one reused buffer: no allocation per line, so memory stays flat however
 * many rows go by (and glibc is not left holding freed chunks).
 */
class BufferedFile {
  private readonly fh: fs.promises.FileHandle;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  readonly hash = createHash("sha256");
  size = 0;

  constructor(fh: fs.promises.FileHandle) {
    this.fh = fh;
  }

  async write(text: string): Promise<void> {
    const n = Buffer.byteLength(text, "utf8");
    if (this.used + n > this.buf.length) await this.flush();
    if (n > this.buf.length) {
      await this.writeOut(Buffer.from(text, "utf8"));
    } else {
      this.buf.write(text, this.used, "utf8");
      this.used += n;
    }
    this.size += n;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.writeOut(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private async writeOut(data: Buffer): Promise<void> {
    this.hash.update(data);
    let done = 0;
    while (done < data.length) done += (await this.fh.write(data, done, data.length - done)).bytesWritten;
  }
}

/**
 * Writes the dump of `ex` to a new file (mode 0600, must not exist), hashing it on the way, and
 * fsyncs it.
 */
export async function writeDumpFile(ex: Executor, file: string, options: DumpFileOptions): Promise<DumpFileResult> {
  const fh = await fs.promises.open(file, "wx", FILE_MODE);
  const out = new BufferedFile(fh);
  const write = (text: string) => out.write(text);
  const tables: Record<string, number> = {};
  let rows = 0;
  let statements = 0;
  let current: string | undefined;
  try {
    for (const line of options.header) await write(`-- ${line}\n`);
    for await (const s of dumpStatements(ex, options)) {
      statements++;
      if (s.creates !== undefined) {
        tables[s.creates] = 0;
        current = s.creates;
      }
      if (s.table !== undefined) {
        tables[s.table] = (tables[s.table] ?? 0) + 1;
        rows++;
      }
      // A statement whose last line is a comment would swallow the ';'.
      const lastLine = s.sql.slice(s.sql.lastIndexOf("\n") + 1);
      await write(lastLine.includes("--") ? `${s.sql}\n;\n` : `${s.sql};\n`);
      options.onProgress?.(rows, out.size, current);
    }
    await write(`${TRAILER} statements=${statements} rows=${rows}\n`);
    await out.flush();
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { tables, rows, statements, sha256: out.hash.digest("hex"), size: out.size };
}
