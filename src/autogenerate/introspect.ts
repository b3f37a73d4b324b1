// Read a live database's schema into the Schema model. Four queries in total:
// sqlite_schema joined with pragma_table_list, then the table_xinfo,
// index_list/index_xinfo and foreign_key_list pragmas as table-valued
// functions joined against sqlite_schema.

import type { Client, Row } from "@libsql/client";
import { parseCreateIndex, parseCreateTable, type ParsedColumn } from "../ddl/parse.ts";
import type { Column, ForeignKey, Index, IndexColumn, Schema, Table } from "../ddl/model.ts";

export type * from "../ddl/model.ts";

/** Anything that can run one statement: a libSQL Client or Transaction. */
export type Executor = Pick<Client, "execute">;

interface SchemaRow {
  type: string;
  name: string;
  tblName: string;
  sql: string;
  listType: string | null;
  strict: boolean;
  withoutRowid: boolean;
}

/** Objects strata never manages: SQLite internals, strata's bookkeeping, Litestream's. */
export function isIgnoredName(name: string): boolean {
  const n = name.toLowerCase();
  return n.startsWith("sqlite_") || n.startsWith("strata_") || n.startsWith("_litestream");
}

export async function introspect(db: Executor): Promise<Schema> {
  const objects = (await readSchemaRows(db)).filter((o) => !isIgnoredName(o.name) && !isIgnoredName(o.tblName));
  // Sequential on purpose: a Transaction executor must not see concurrent calls.
  const columns = await readColumns(db);
  const indexColumns = await readIndexColumns(db);
  const foreignKeys = await readForeignKeys(db);
  const tables = objects
    .filter((o) => o.type === "table" && o.listType !== "shadow")
    .map((o) => buildTable(o, columns.get(o.name) ?? [], foreignKeys.get(o.name) ?? []));
  const indexes = objects.filter((o) => o.type === "index").map((o) => buildIndex(o, indexColumns.get(o.name) ?? []));
  const views = objects.filter((o) => o.type === "view").map((o) => ({ name: o.name, sql: o.sql }));
  const triggers = objects
    .filter((o) => o.type === "trigger")
    .map((o) => ({ name: o.name, table: o.tblName, sql: o.sql }));
  const byNameOrder = <T extends { name: string }>(items: T[]) => items.sort((a, b) => compareNames(a.name, b.name));
  return {
    tables: byNameOrder(tables),
    indexes: byNameOrder(indexes),
    views: byNameOrder(views),
    triggers: byNameOrder(triggers),
  };
}

/** Stable ordering: case-insensitive first, exact spelling as the tie-breaker. */
export function compareNames(a: string, b: string): number {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readSchemaRows(db: Executor): Promise<SchemaRow[]> {
  // Autoindexes have NULL sql: they belong to their table's constraints.
  const rs = await db.execute(`
    SELECT s.type, s.name, s.tbl_name, s.sql, l.type AS list_type, l.strict, l.wr
    FROM sqlite_schema AS s
    LEFT JOIN pragma_table_list AS l ON l.schema = 'main' AND l.name = s.name
    WHERE s.sql IS NOT NULL`);
  return rs.rows.map((r) => ({
    type: str(r.type),
    name: str(r.name),
    tblName: str(r.tbl_name),
    sql: str(r.sql),
    listType: r.list_type == null ? null : str(r.list_type),
    strict: Number(r.strict) === 1,
    withoutRowid: Number(r.wr) === 1,
  }));
}

interface RawColumn {
  cid: number;
  name: string;
  type: string;
  notNull: boolean;
  defaultValue: string | null;
  pk: number;
  hidden: number;
}

async function readColumns(db: Executor): Promise<Map<string, RawColumn[]>> {
  // Virtual tables are skipped: their module may not be loaded here.
  const rs = await db.execute(`
    SELECT s.name AS tbl, x.cid, x.name, x.type, x."notnull" AS nn, x.dflt_value, x.pk, x.hidden
    FROM sqlite_schema AS s JOIN pragma_table_xinfo(s.name) AS x
    WHERE s.type = 'table' AND s.sql NOT LIKE 'CREATE VIRTUAL %'
    ORDER BY s.name, x.cid`);
  return groupBy(rs.rows, (r) => str(r.tbl), (r) => ({
    cid: Number(r.cid),
    name: str(r.name),
    type: str(r.type),
    notNull: Number(r.nn) === 1,
    defaultValue: r.dflt_value == null ? null : str(r.dflt_value),
    pk: Number(r.pk),
    hidden: Number(r.hidden),
  }));
}

interface RawIndexColumn {
  cid: number;
  name: string | null;
  desc: boolean;
  collation: string;
}

async function readIndexColumns(db: Executor): Promise<Map<string, RawIndexColumn[]>> {
  // Only key columns: index_xinfo also lists the rowid/PK columns appended to every index.
  const rs = await db.execute(`
    SELECT il.name AS idx, ix.seqno, ix.cid, ix.name, ix."desc" AS dsc, ix.coll
    FROM sqlite_schema AS s
    JOIN pragma_index_list(s.name) AS il
    JOIN pragma_index_xinfo(il.name) AS ix
    WHERE s.type = 'table' AND s.sql NOT LIKE 'CREATE VIRTUAL %' AND ix."key" = 1
    ORDER BY il.name, ix.seqno`);
  return groupBy(rs.rows, (r) => str(r.idx), (r) => ({
    cid: Number(r.cid),
    name: r.name == null ? null : str(r.name),
    desc: Number(r.dsc) === 1,
    collation: str(r.coll),
  }));
}

async function readForeignKeys(db: Executor): Promise<Map<string, ForeignKey[]>> {
  const rs = await db.execute(`
    SELECT s.name AS tbl, f.id, f.seq, f."table" AS parent, f."from" AS col, f."to" AS ref,
           f.on_update, f.on_delete, f."match" AS mt
    FROM sqlite_schema AS s JOIN pragma_foreign_key_list(s.name) AS f
    WHERE s.type = 'table' AND s.sql NOT LIKE 'CREATE VIRTUAL %'
    ORDER BY s.name, f.id, f.seq`);
  const result = new Map<string, ForeignKey[]>();
  for (const r of rs.rows) {
    const fks = result.get(str(r.tbl)) ?? [];
    result.set(str(r.tbl), fks);
    let fk = fks.find((f) => f.id === Number(r.id));
    if (!fk) {
      fk = {
        id: Number(r.id),
        table: str(r.parent),
        from: [],
        to: [],
        onUpdate: str(r.on_update),
        onDelete: str(r.on_delete),
        match: str(r.mt),
      };
      fks.push(fk);
    }
    fk.from.push(str(r.col));
    fk.to.push(r.ref == null ? null : str(r.ref));
  }
  return result;
}

function buildTable(row: SchemaRow, raw: RawColumn[], foreignKeys: ForeignKey[]): Table {
  const parsed = parseCreateTable(row.sql);
  const columns = raw.map((c) => buildColumn(c, parsed.columns.find((p) => p.name.toLowerCase() === c.name.toLowerCase())));
  const tableChecks = parsed.constraints.filter((c) => c.kind === "check").map((c) => c.text);
  return {
    name: row.name,
    sql: row.sql,
    strict: row.strict,
    withoutRowid: row.withoutRowid,
    autoincrement: parsed.columns.some((c) => c.autoincrement),
    virtual: parsed.virtual,
    columns,
    foreignKeys,
    checks: [...columns.flatMap((c) => c.checks), ...tableChecks],
    constraints: parsed.constraints,
  };
}

function buildColumn(raw: RawColumn, parsed: ParsedColumn | undefined): Column {
  const generated = raw.hidden === 2 ? "virtual" : raw.hidden === 3 ? "stored" : null;
  return {
    name: raw.name,
    cid: raw.cid,
    type: raw.type,
    notNull: raw.notNull,
    defaultValue: raw.defaultValue,
    pk: raw.pk,
    hidden: raw.hidden,
    generated,
    generatedExpr: parsed?.generated?.expr ?? null,
    collation: parsed?.collation ?? null,
    unique: parsed?.unique ?? false,
    checks: parsed?.checks ?? [],
    references: parsed?.references ?? null,
    definition: parsed?.definition ?? raw.name,
  };
}

function buildIndex(row: SchemaRow, raw: RawIndexColumn[]): Index {
  const parsed = parseCreateIndex(row.sql);
  // cid -2 marks an expression term; its text comes from the statement.
  const columns: IndexColumn[] = raw.map((c, i) => ({
    name: c.cid === -2 ? null : c.name,
    expression: c.cid === -2 ? stripOrdering(parsed.terms[i] ?? "") : null,
    desc: c.desc,
    collation: c.collation,
  }));
  return { name: row.name, table: row.tblName, unique: parsed.unique, partial: parsed.where, columns, sql: row.sql };
}

/** `lower(email) DESC` → `lower(email)`; `x COLLATE nocase` → `x`. */
function stripOrdering(term: string): string {
  return term.replace(/\s+(ASC|DESC)\s*$/i, "").replace(/\s+COLLATE\s+\S+\s*$/i, "");
}

function groupBy<T>(rows: Row[], key: (r: Row) => string, map: (r: Row) => T): Map<string, T[]> {
  const result = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = result.get(k) ?? [];
    list.push(map(r));
    result.set(k, list);
  }
  return result;
}

function str(value: unknown): string {
  return value == null ? "" : String(value);
}
