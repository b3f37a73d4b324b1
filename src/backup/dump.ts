/**
 * The logical dump of a database (the remote backup): schema and rows as SQL statements, read
 * with keyset pagination so memory stays bounded whatever the table sizes.
 *
 * Order, so that a plain `sqlite3 new.db < dump.sql` also loads it:
 *   PRAGMA foreign_keys=OFF; BEGIN;
 *   every CREATE TABLE, then the rows (one INSERT per row, one row per line, tables interleaved
 *   page by page);
 *   sqlite_sequence (AUTOINCREMENT high-water marks);
 *   indexes, views, triggers (after the rows: faster, and no trigger fires during the load);
 *   COMMIT; and a trailer comment with the statement and row counts, so truncation is detected.
 *
 * Pages are read by rowid (or by primary key for WITHOUT ROWID tables), never with OFFSET. A
 * page starts at 64 rows and grows to 1000 while a request stays under ~4 MB of SQL; wide rows
 * (blobs) shrink it.
 */
import fs from "node:fs";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { InStatement, InValue, ResultSet } from "@libsql/client";
import type { Logger } from "../output/logger.ts";
import { messageOf } from "../errors.ts";
import { SCHEMA_SQL, schemaObjects, schemaRows, type Executor, type SchemaObject } from "./db.ts";
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

/** Tables whose columns are read in one request. */
const TABLES_PER_INFO_REQUEST = 200;
/** Tables whose next page is read in one request (a round), sharing ROUND_BYTES. */
const TABLES_PER_PAGE_REQUEST = 50;
const ROUND_BYTES = 4 << 20;

/**
 * The dump's statements. Remote reads are grouped so that the number of requests does not grow
 * with the number of tables: the schema in one request, the columns of up to 200 tables per
 * request, then rounds that read the next page of up to 50 tables per request (pages shrink with
 * the number of tables in a round, so a request stays near ROUND_BYTES). A dump of many small
 * tables takes a handful of requests; big tables add pages, as many as the biggest one needs.
 */
export async function* dumpStatements(ex: Executor, options: DumpOptions = {}): AsyncGenerator<DumpStatement> {
  const skip = new Set((options.skipRowsOf ?? []).map((t) => t.toLowerCase()));
  const { objects, shadow } = await readSchema(ex);
  const tables = objects.filter((o) => o.type === "table" && o.sql !== null && !shadow.has(o.name.toLowerCase()));
  const autoincrement = tables.some((t) => /\bAUTOINCREMENT\b/i.test(t.sql!));

  const plans: TablePlan[] = [];
  let sequence: ResultSet | undefined;
  for (let i = 0; i < tables.length; i += TABLES_PER_INFO_REQUEST) {
    const chunk = tables.slice(i, i + TABLES_PER_INFO_REQUEST);
    const last = i + TABLES_PER_INFO_REQUEST >= tables.length;
    const stmts = chunk.map((t) => `PRAGMA table_xinfo(${quoteIdent(t.name)})`);
    if (last && autoincrement) stmts.push('SELECT name, seq FROM "sqlite_sequence"');
    const results = await ex.batch(stmts);
    chunk.forEach((t, j) => plans.push(planTable(t, results[j]!, options)));
    if (last && autoincrement) sequence = results[chunk.length];
  }

  yield { sql: "PRAGMA foreign_keys=OFF" };
  yield { sql: "BEGIN TRANSACTION" };
  for (const t of tables) yield { sql: t.sql!, creates: t.name };
  const withRows = plans.filter((p) => !skip.has(p.table.name.toLowerCase()));
  for (const p of withRows) {
    if (p.kind === "offset") yield* offsetPages(ex, p.table, p.columns, options);
    else if (p.virtual) yield* pagesOneByOne(ex, p, options);
  }
  yield* pagesInRounds(ex, withRows.filter((p): p is KeysetPlan => p.kind === "keyset" && !p.virtual), options);

  if (sequence) {
    const names = new Set(tables.map((t) => t.name.toLowerCase()));
    yield { sql: 'DELETE FROM "sqlite_sequence"' };
    for (const r of sequence.rows) {
      if (!names.has(String(r.name).toLowerCase())) continue;
      yield { sql: `INSERT INTO "sqlite_sequence"("name","seq") VALUES(${sqlLiteral(r.name)},${sqlLiteral(r.seq)})` };
    }
  }
  for (const type of ["index", "view", "trigger"] as const) {
    for (const o of objects) if (o.type === type && o.sql !== null && !shadow.has(o.table.toLowerCase())) yield { sql: o.sql };
  }
  yield { sql: "COMMIT" };
}

/** The schema and the shadow tables of virtual tables (FTS, R*Tree…), in one request. */
async function readSchema(ex: Executor): Promise<{ objects: SchemaObject[]; shadow: Set<string> }> {
  try {
    const [schema, list] = await ex.batch([SCHEMA_SQL, "PRAGMA table_list"]);
    return { objects: schemaRows(schema!), shadow: new Set(list!.rows.filter((r) => r.type === "shadow").map((r) => String(r.name).toLowerCase())) };
  } catch {
    // SQLite before 3.37 has no table_list (and no shadow table detection).
    return { objects: await schemaObjects(ex), shadow: new Set() };
  }
}

interface Column {
  name: string;
  type: string;
  pk: number;
}

interface KeysetPlan {
  kind: "keyset";
  table: SchemaObject;
  virtual: boolean;
  /** Key expressions, selected first. */
  keys: string[];
  /** The rowid is written too (no INTEGER PRIMARY KEY holds it). */
  insertKey: boolean;
  columns: Column[];
  select: string;
  prefix: string;
  keyTuple: string;
  /** Where the next page starts; undefined before the first. */
  after: InValue[] | undefined;
  limit: number;
  done: boolean;
}

type TablePlan = KeysetPlan | { kind: "offset"; table: SchemaObject; virtual: boolean; columns: Column[] };

/** How the rows of `t` are read, from its `PRAGMA table_xinfo`. */
function planTable(t: SchemaObject, info: ResultSet, options: DumpOptions): TablePlan {
  const name = quoteIdent(t.name);
  const all = info.rows.map((r) => ({ name: String(r.name), type: String(r.type ?? ""), pk: Number(r.pk), hidden: Number(r.hidden) }));
  // Generated (2, 3) and hidden virtual-table (1) columns cannot be inserted.
  const columns: Column[] = all.filter((c) => c.hidden === 0);
  const virtual = /^\s*CREATE\s+VIRTUAL\b/i.test(t.sql!);
  const withoutRowid = /\)\s*(?:STRICT\s*,\s*)?WITHOUT\s+ROWID\s*(?:,\s*STRICT\s*)?$/i.test(t.sql!.trim());
  const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  const taken = new Set(all.map((c) => c.name.toLowerCase()));

  let keys: string[];
  let insertKey: boolean;
  if (withoutRowid) {
    keys = pk.map((c) => quoteIdent(c.name));
    insertKey = false;
  } else {
    const rowid = ["rowid", "_rowid_", "oid"].find((n) => !taken.has(n));
    const alias = pk.length === 1 && pk[0]!.type.toUpperCase() === "INTEGER" ? pk[0]!.name : undefined;
    if (rowid === undefined && alias === undefined) return { kind: "offset", table: t, virtual, columns };
    keys = [alias !== undefined ? quoteIdent(alias) : rowid!];
    insertKey = alias === undefined;
  }
  const insertColumns = [...(insertKey ? [keys[0]!] : []), ...columns.map((c) => quoteIdent(c.name))];
  return {
    kind: "keyset",
    table: t,
    virtual,
    keys,
    insertKey,
    columns,
    select: `SELECT ${[...keys, ...columns.map((c) => quoteIdent(c.name))].join(", ")} FROM ${name}`,
    prefix: `INSERT INTO ${name}(${insertColumns.join(",")}) VALUES(`,
    keyTuple: keys.length === 1 ? keys[0]! : `(${keys.join(", ")})`,
    after: undefined,
    limit: Math.min(FIRST_PAGE_ROWS, options.maxPageRows ?? MAX_PAGE_ROWS),
    done: false,
  };
}

function pageStatement(p: KeysetPlan): InStatement {
  const where = p.after === undefined ? "" : ` WHERE ${p.keyTuple} > ${p.keys.length === 1 ? "?" : `(${p.keys.map(() => "?").join(", ")})`}`;
  return { sql: `${p.select}${where} ORDER BY ${p.keys.join(", ")} LIMIT ?`, args: [...(p.after ?? []), p.limit] };
}

/** The INSERTs of one page; moves the plan to the next page, sized to aim at `budget` bytes. */
function* rowsOfPage(p: KeysetPlan, rs: ResultSet, budget: number, maxRows: number): Generator<DumpStatement> {
  let bytes = 0;
  const k = p.keys.length;
  const from = p.insertKey ? 0 : k;
  for (const row of rs.rows) {
    const values: string[] = [];
    for (let i = from; i < k + p.columns.length; i++) values.push(sqlLiteral(row[i]));
    const sql = p.prefix + values.join(",") + ")";
    bytes += sql.length;
    yield { sql, table: p.table.name };
  }
  if (rs.rows.length < p.limit) {
    p.done = true;
    return;
  }
  const last = rs.rows[rs.rows.length - 1]!;
  p.after = p.keys.map((_, i) => last[i] as InValue);
  const perRow = Math.max(1, bytes / rs.rows.length);
  p.limit = Math.max(1, Math.min(maxRows, Math.floor(budget / perRow), p.limit * 4));
}

/** Rounds: the next page of up to TABLES_PER_PAGE_REQUEST tables per request, until all are read. */
async function* pagesInRounds(ex: Executor, plans: KeysetPlan[], options: DumpOptions): AsyncGenerator<DumpStatement> {
  const maxRows = options.maxPageRows ?? MAX_PAGE_ROWS;
  let active = plans;
  while (active.length > 0) {
    for (let i = 0; i < active.length; i += TABLES_PER_PAGE_REQUEST) {
      const group = active.slice(i, i + TABLES_PER_PAGE_REQUEST);
      const budget = Math.max(1, Math.floor((options.pageBytes ?? ROUND_BYTES) / group.length));
      const results = await ex.batch(group.map(pageStatement));
      for (let j = 0; j < group.length; j++) yield* rowsOfPage(group[j]!, results[j]!, budget, maxRows);
    }
    active = active.filter((p) => !p.done);
  }
}

/** Virtual tables, page by page on their own: reading one may fail (a module the server lacks). */
async function* pagesOneByOne(ex: Executor, p: TablePlan, options: DumpOptions): AsyncGenerator<DumpStatement> {
  if (p.kind !== "keyset") return;
  const maxRows = options.maxPageRows ?? MAX_PAGE_ROWS;
  while (!p.done) {
    let rs;
    try {
      rs = await ex.execute(pageStatement(p));
    } catch (e) {
      options.logger?.warn(`cannot read the rows of virtual table ${p.table.name} (${messageOf(e)}); only its definition is backed up`);
      return;
    }
    yield* rowsOfPage(p, rs, options.pageBytes ?? PAGE_BYTES, maxRows);
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
