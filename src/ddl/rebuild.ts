// SQLite's "Making Other Kinds Of Table Schema Changes" procedure
// (https://www.sqlite.org/lang_altertable.html#otheralter), as statements.
//
// The engine supplies steps 1-2 and 10-12 itself: foreign keys are OFF
// (PRAGMA before BEGIN), everything runs in one transaction and
// PRAGMA foreign_key_check must be empty before COMMIT. With enforcement off,
// DROP TABLE does no implicit DELETE, so ON DELETE CASCADE children keep
// their rows. We create the new table under a temporary name and rename it,
// never the other way round: renaming the *old* table would make SQLite
// rewrite the children's REFERENCES clauses to point at the doomed copy.

import { byName, sameName, type Column, type Schema, type Table } from "./model.ts";
import { dependentsOf, viewCreationOrder, type Dependents } from "./dependencies.ts";
import { defaultAsExpression, isNullDefault } from "./default-value.ts";
import { renameCreateTable } from "./parse.ts";
import { quoteIdent, quoteString } from "./tokenize.ts";

export interface RebuildOptions {
  /**
   * "include" (default): also drop the views and triggers that reference the
   * table before the swap and recreate their target versions afterwards.
   * "external": the caller handles every view and trigger (renderMigration
   * does, so that objects depending on several rebuilt tables are dropped
   * and recreated once).
   */
  dependents?: "include" | "external";
}

export function rebuildTableSql(
  fromTable: Table,
  toTable: Table,
  schemaTo: Schema,
  schemaFrom: Schema,
  options: RebuildOptions = {},
): string[] {
  const tmp = temporaryName(toTable.name, schemaFrom, schemaTo);
  const include = (options.dependents ?? "include") === "include";
  const deps: Dependents = include ? dependentsOf([fromTable.name], schemaFrom) : { views: [], triggers: [] };
  return [
    ...dropDependentsSql(deps),
    renameCreateTable(toTable.sql, tmp),
    ...copyRowsSql(fromTable, toTable, tmp),
    ...keepSequenceSql(fromTable, toTable, tmp),
    `DROP TABLE ${quoteIdent(fromTable.name)}`,
    // SQLite re-parses every view and trigger here: none may reference a missing table.
    `ALTER TABLE ${quoteIdent(tmp)} RENAME TO ${quoteIdent(toTable.name)}`,
    ...schemaTo.indexes.filter((i) => sameName(i.table, toTable.name)).map((i) => i.sql),
    ...(include ? recreateDependentsSql(deps, toTable, schemaTo) : []),
  ];
}

/** `new_<name>`, suffixed until it collides with nothing in either schema. */
export function temporaryName(name: string, ...schemas: Schema[]): string {
  return freeName(`new_${name}`, schemas);
}

/** `base`, suffixed `_1`, `_2`, … until no object of any of `schemas` has that name. */
export function freeName(base: string, schemas: Schema[]): string {
  const taken = new Set(
    schemas.flatMap((s) => [...s.tables, ...s.indexes, ...s.views, ...s.triggers].map((o) => o.name.toLowerCase())),
  );
  let candidate = base;
  for (let n = 1; taken.has(candidate.toLowerCase()); n++) candidate = `${base}_${n}`;
  return candidate;
}

/**
 * INSERT ... SELECT of every column present on both sides (generated target
 * columns are computed, not inserted). Constraint violations (new NOT NULL,
 * CHECK, UNIQUE, STRICT types) surface here and abort the migration.
 */
export function copyRowsSql(fromTable: Table, toTable: Table, into: string): string[] {
  const targets: string[] = [];
  const values: string[] = [];
  for (const tc of toTable.columns) {
    const fc = byName(fromTable.columns, tc.name);
    if (!fc || tc.generated !== null || tc.hidden !== 0) continue;
    targets.push(quoteIdent(tc.name));
    values.push(valueExpr(fc, tc));
  }
  const rowid = rowidToKeep(fromTable, toTable);
  if (rowid !== null) {
    targets.unshift(rowid);
    values.unshift(rowid);
  }
  if (targets.length === 0) return [];
  return [
    `INSERT INTO ${quoteIdent(into)} (${targets.join(", ")})\n  SELECT ${values.join(", ")} FROM ${quoteIdent(fromTable.name)}`,
  ];
}

/**
 * A column that becomes NOT NULL with a default takes the default where it
 * was NULL. The default is re-spelled for an expression position: as written,
 * `DEFAULT "name"` would read column "name" inside the SELECT.
 */
function valueExpr(fc: Column, tc: Column): string {
  if (tc.notNull && !fc.notNull && !isNullDefault(tc.defaultValue)) {
    return `COALESCE(${quoteIdent(fc.name)}, ${defaultAsExpression(tc.defaultValue)})`;
  }
  return quoteIdent(fc.name);
}

/**
 * Keep rowids stable for rowid tables without an INTEGER PRIMARY KEY (the
 * alias is copied as a column anyway): external references such as FTS
 * content_rowid rely on them. Null when no alias name is free.
 */
function rowidToKeep(fromTable: Table, toTable: Table): string | null {
  if (fromTable.withoutRowid || toTable.withoutRowid || hasRowidAlias(toTable)) return null;
  const used = (alias: string) => byName(fromTable.columns, alias) || byName(toTable.columns, alias);
  return ["rowid", "_rowid_", "oid"].find((alias) => !used(alias)) ?? null;
}

function hasRowidAlias(table: Table): boolean {
  const pk = table.columns.filter((c) => c.pk > 0);
  return !table.withoutRowid && pk.length === 1 && pk[0].type.toUpperCase() === "INTEGER";
}

/**
 * DROP TABLE deletes the table's sqlite_sequence row and the copy only
 * records max(rowid), so the counter would go back for deleted tail rows.
 * Copy it to the new table's row while both tables exist; the rename then
 * carries it over to the final name.
 */
function keepSequenceSql(fromTable: Table, toTable: Table, tmp: string): string[] {
  if (!fromTable.autoincrement || !toTable.autoincrement) return [];
  return [
    `DELETE FROM sqlite_sequence WHERE name = ${quoteString(tmp)}`,
    `INSERT INTO sqlite_sequence (name, seq) SELECT ${quoteString(tmp)}, seq FROM sqlite_sequence WHERE name = ${quoteString(fromTable.name)}`,
  ];
}

function dropDependentsSql(deps: Dependents): string[] {
  return [
    ...deps.triggers.map((t) => `DROP TRIGGER ${quoteIdent(t.name)}`),
    ...[...deps.views].reverse().map((v) => `DROP VIEW ${quoteIdent(v.name)}`),
  ];
}

/** Target versions of the dropped dependents, plus the target's triggers on the table itself. */
function recreateDependentsSql(deps: Dependents, toTable: Table, schemaTo: Schema): string[] {
  const views = deps.views.flatMap((v) => byName(schemaTo.views, v.name) ?? []);
  const triggers = schemaTo.triggers.filter(
    (t) => sameName(t.table, toTable.name) || deps.triggers.some((d) => sameName(d.name, t.name)),
  );
  return [...viewCreationOrder(views).map((v) => v.sql), ...triggers.map((t) => t.sql)];
}
