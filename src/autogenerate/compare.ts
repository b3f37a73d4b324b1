// Compare two schemas and describe, per table, what has to happen to turn
// `from` into `to`. Everything is compared on normalized SQL so cosmetic
// differences (whitespace, keyword case, quoting, IF NOT EXISTS) are not
// diffs. Renames are never guessed; a drop+add pair only earns a note.

import { defaultKey, definitionKey } from "../ddl/default-value.ts";
import { normalizeSql, quoteIdent } from "../ddl/tokenize.ts";
import { freeName } from "../ddl/rebuild.ts";
import { virtualCopyNote } from "../ddl/virtual.ts";
import { compareNames } from "./introspect.ts";
import { addColumnBlocker, alterColumnCopes, dropColumnBlocker } from "./in-place.ts";
import { byName, sameName, type Column, type Index, type Schema, type Table, type Trigger } from "../ddl/model.ts";

export type RebuildReasonKind =
  | "type"
  | "notnull"
  | "default"
  | "check"
  | "fk"
  | "unique"
  | "collate"
  | "pk"
  | "autoincrement"
  | "strict"
  | "without rowid"
  | "generated"
  | "column order"
  | "add column"
  | "drop column"
  | "rename case" // kept for API stability: case-only table renames are now done in place
  | "definition";

export interface RebuildReason {
  kind: RebuildReasonKind;
  column?: string;
  detail: string;
}

export type TableOp =
  | { kind: "createTable" }
  | { kind: "dropTable" }
  | { kind: "addColumn"; column: string }
  | { kind: "dropColumn"; column: string }
  /** Only for a case-only change of a column name (same column to SQLite); real renames are never guessed. */
  | { kind: "renameColumn"; from: string; to: string }
  /** A case-only change of the table's name: two RENAME TOs through a free name (SQLite refuses a case variant directly). */
  | { kind: "renameTable"; from: string; to: string; via: string }
  /** libSQL's ALTER TABLE … ALTER COLUMN … TO …, used only where no existing row needs checking or converting (a new DEFAULT). */
  | { kind: "alterColumn"; column: string; detail: string }
  | { kind: "rebuildTable"; reasons: RebuildReason[]; addedColumns: string[]; droppedColumns: string[] }
  /** A changed virtual table: recreated, its contents kept where the module allows (ddl/virtual.ts). */
  | { kind: "recreateVirtual" }
  | { kind: "createIndex"; index: string }
  | { kind: "dropIndex"; index: string }
  | { kind: "createTrigger"; trigger: string }
  | { kind: "dropTrigger"; trigger: string };

/** A dropped and an added column in the same table that may really be a rename. */
export interface RenameCandidate {
  from: string;
  to: string;
}

export interface TableDiff {
  /** Table name (the target spelling when the table exists in `to`). */
  table: string;
  ops: TableOp[];
  notes: string[];
  renameCandidates: RenameCandidate[];
}

export type ViewOp = { kind: "createView"; view: string } | { kind: "dropView"; view: string };

export interface SchemaDiff {
  tables: TableDiff[];
  views: ViewOp[];
  notes: string[];
  empty: boolean;
}

export interface CompareOptions {
  /**
   * Compare column order too (strict_column_order / --strict-column-order): a
   * new column placed anywhere but last then needs a rebuild. Off by default:
   * ADD COLUMN appends and `check` ignores order-only differences.
   */
  strictColumnOrder?: boolean;
}

export function compareSchemas(from: Schema, to: Schema, options: CompareOptions = {}): SchemaDiff {
  const tables = tableNames(from, to)
    .map((name) => compareTableEntry(name, from, to, options))
    .filter((d) => d.ops.length > 0 || d.notes.length > 0);
  const views = compareViews(from, to);
  const notes = tableRenameNotes(tables);
  const empty = views.length === 0 && tables.every((t) => t.ops.length === 0);
  return { tables, views, notes, empty };
}

/** Every table name of either side, plus tables/views that only own changed triggers. */
function tableNames(from: Schema, to: Schema): string[] {
  const names = new Map<string, string>();
  const add = (n: string) => {
    if (!names.has(n.toLowerCase())) names.set(n.toLowerCase(), n);
  };
  // Target spelling first so a case-only rename is reported under the new name.
  for (const s of [to, from]) {
    s.tables.forEach((t) => add(t.name));
    s.indexes.forEach((i) => add(i.table));
    s.triggers.forEach((t) => add(t.table));
  }
  return [...names.values()].sort(compareNames);
}

function compareTableEntry(name: string, from: Schema, to: Schema, options: CompareOptions): TableDiff {
  const diff: TableDiff = { table: name, ops: [], notes: [], renameCandidates: [] };
  const f = byName(from.tables, name);
  const t = byName(to.tables, name);
  if (f && !t) diff.ops.push({ kind: "dropTable" });
  if (!f && t) diff.ops.push({ kind: "createTable" });
  if (f && t) compareTable(f, t, from, to, diff, options);
  const dependents = [...indexOps(name, from, to), ...triggerOps(name, from, to)];
  // A dropped table takes its indexes and triggers with it.
  const implied = (op: TableOp) => f !== undefined && !t && (op.kind === "dropIndex" || op.kind === "dropTrigger");
  diff.ops.push(...dependents.filter((op) => !implied(op)));
  return diff;
}

function compareTable(f: Table, t: Table, from: Schema, to: Schema, diff: TableDiff, options: CompareOptions): void {
  if (f.virtual || t.virtual) {
    if (f.virtual && t.virtual && normalizeSql(f.sql) !== normalizeSql(t.sql)) {
      diff.ops.push({ kind: "recreateVirtual" });
      diff.notes.push(virtualCopyNote(t.name, f.sql, t.sql));
    } else if (f.virtual && t.virtual && f.name !== t.name) {
      // Case only (same name to SQLite): fts and rtree rename their storage with the table.
      diff.ops.push({ kind: "renameTable", from: f.name, to: t.name, via: freeName(`${t.name}_renaming`, [from, to]) });
    } else if (f.virtual !== t.virtual) {
      diff.ops.push({ kind: "dropTable" }, { kind: "createTable" });
      diff.notes.push(`${quoteIdent(t.name)} changes between a virtual and an ordinary table: dropped and recreated, its contents are not copied`);
    }
    return;
  }
  const dropped = f.columns.filter((c) => !byName(t.columns, c.name));
  const added = t.columns.filter((c) => !byName(f.columns, c.name));
  const reasons = [
    ...tableLevelReasons(f, t),
    ...f.columns.flatMap((fc) => {
      const tc = byName(t.columns, fc.name);
      return tc ? columnReasons(fc, tc) : [];
    }),
    ...(options.strictColumnOrder ? orderReasons(f, t, dropped, added) : []),
    ...added.flatMap((c) => whyNot("add column", t.name, c.definition, addColumnBlocker(c))),
    ...dropped.flatMap((c) => whyNot("drop column", t.name, quoteIdent(c.name), dropColumnBlocker(c, f, from, to))),
  ];
  const inPlace = reasons.filter((r) => r.kind === "default" && r.column !== undefined && alterColumnCopes(f, t, r.column));
  if (reasons.length > 0 && inPlace.length < reasons.length) {
    diff.ops.push({
      kind: "rebuildTable",
      reasons: dedupeReasons(reasons),
      addedColumns: added.map((c) => c.name),
      droppedColumns: dropped.map((c) => c.name),
    });
  } else {
    // Order matters: a table's only column can be dropped only once its replacement exists.
    if (f.name !== t.name) diff.ops.push({ kind: "renameTable", from: f.name, to: t.name, via: freeName(`${t.name}_renaming`, [from, to]) });
    diff.ops.push(...caseRenames(f, t));
    diff.ops.push(...added.map((c) => ({ kind: "addColumn" as const, column: c.name })));
    diff.ops.push(...inPlace.map((r) => ({ kind: "alterColumn" as const, column: r.column!, detail: r.detail })));
    diff.ops.push(...dropped.map((c) => ({ kind: "dropColumn" as const, column: c.name })));
  }
  noteRenameCandidates(t.name, dropped, added, diff);
}

/** The statement SQLite refuses, and why. */
function whyNot(kind: "add column" | "drop column", table: string, what: string, blocker: string | null): RebuildReason[] {
  if (blocker === null) return [];
  const verb = kind === "add column" ? "ADD" : "DROP";
  return [{ kind, detail: `SQLite refuses ALTER TABLE ${quoteIdent(table)} ${verb} COLUMN ${what}: ${blocker}` }];
}

function tableLevelReasons(f: Table, t: Table): RebuildReason[] {
  const reasons: RebuildReason[] = [];
  if (f.strict !== t.strict) reasons.push({ kind: "strict", detail: t.strict ? "STRICT added" : "STRICT removed" });
  if (f.withoutRowid !== t.withoutRowid) {
    reasons.push({ kind: "without rowid", detail: t.withoutRowid ? "WITHOUT ROWID added" : "WITHOUT ROWID removed" });
  }
  if (f.autoincrement !== t.autoincrement) {
    reasons.push({ kind: "autoincrement", detail: t.autoincrement ? "AUTOINCREMENT added" : "AUTOINCREMENT removed" });
  }
  return [...reasons, ...constraintReasons(f, t)];
}

const CONSTRAINT_REASON: Record<string, RebuildReasonKind> = {
  "primary key": "pk",
  unique: "unique",
  check: "check",
  "foreign key": "fk",
  other: "definition",
};

/** Table-level constraints compared as multisets of normalized text. */
function constraintReasons(f: Table, t: Table): RebuildReason[] {
  const reasons: RebuildReason[] = [];
  const remaining = t.constraints.map((c) => normalizeSql(c.text));
  for (const c of f.constraints) {
    const at = remaining.indexOf(normalizeSql(c.text));
    if (at >= 0) remaining.splice(at, 1);
    else reasons.push({ kind: CONSTRAINT_REASON[c.kind], detail: `constraint removed: ${c.text}` });
  }
  for (const c of t.constraints) {
    if (remaining.includes(normalizeSql(c.text))) {
      reasons.push({ kind: CONSTRAINT_REASON[c.kind], detail: `constraint added: ${c.text}` });
    }
  }
  return reasons;
}

function columnReasons(fc: Column, tc: Column): RebuildReason[] {
  const col = quoteIdent(tc.name);
  const reasons: RebuildReason[] = [];
  // Compare normalized text, but show the text as written.
  const changed = (kind: RebuildReasonKind, what: string, a: string | null, b: string | null) => {
    if (norm(a) === norm(b)) return;
    reasons.push({ kind, column: tc.name, detail: `${what} of ${col}: ${a || "none"} → ${b || "none"}` });
  };
  changed("type", "type", fc.type, tc.type);
  changed("notnull", "NOT NULL", fc.notNull ? "NOT NULL" : "nullable", tc.notNull ? "NOT NULL" : "nullable");
  if (defaultKey(fc.defaultValue) !== defaultKey(tc.defaultValue)) {
    reasons.push({ kind: "default", column: tc.name, detail: `default of ${col}: ${fc.defaultValue ?? "none"} → ${tc.defaultValue ?? "none"}` });
  }
  changed("pk", "primary key position", String(fc.pk), String(tc.pk));
  changed("collate", "collation", fc.collation ?? "BINARY", tc.collation ?? "BINARY");
  changed("generated", "generated expression", generatedText(fc), generatedText(tc));
  changed("check", "CHECK", fc.checks.join(" "), tc.checks.join(" "));
  changed("fk", "REFERENCES", fc.references, tc.references);
  changed("unique", "UNIQUE", fc.unique ? "UNIQUE" : "", tc.unique ? "UNIQUE" : "");
  if (reasons.length === 0 && definitionKey(fc.definition) !== definitionKey(tc.definition)) {
    reasons.push({ kind: "definition", column: tc.name, detail: `definition of ${col}: ${fc.definition} → ${tc.definition}` });
  }
  return reasons;
}

/** Columns whose name only changed case: ALTER TABLE RENAME COLUMN handles those in place. */
function caseRenames(f: Table, t: Table): TableOp[] {
  return f.columns.flatMap((fc) => {
    const tc = byName(t.columns, fc.name);
    return tc && tc.name !== fc.name ? [{ kind: "renameColumn" as const, from: fc.name, to: tc.name }] : [];
  });
}

function norm(sql: string | null): string {
  return sql === null ? "" : normalizeSql(sql);
}

function generatedText(c: Column): string {
  return c.generated ? `${c.generatedExpr ?? ""} ${c.generated.toUpperCase()}` : "";
}

/**
 * In-place ALTERs keep the surviving columns in order and append added ones,
 * so any other target order needs a rebuild.
 */
function orderReasons(f: Table, t: Table, dropped: Column[], added: Column[]): RebuildReason[] {
  const key = (c: Column) => c.name.toLowerCase();
  const inPlace = [
    ...f.columns.filter((c) => !dropped.includes(c)).map(key),
    ...t.columns.filter((c) => added.includes(c)).map(key),
  ];
  const target = t.columns.map(key);
  if (inPlace.join("\u0000") === target.join("\u0000")) return [];
  return [{ kind: "column order", detail: `strict column order: ADD COLUMN only appends, and the declared order is ${target.join(", ")}` }];
}

function dedupeReasons(reasons: RebuildReason[]): RebuildReason[] {
  const seen = new Set<string>();
  return reasons.filter((r) => {
    if (seen.has(r.detail)) return false;
    seen.add(r.detail);
    return true;
  });
}

function noteRenameCandidates(table: string, dropped: Column[], added: Column[], diff: TableDiff): void {
  if (dropped.length === 0 || added.length === 0) return;
  if (dropped.length === 1 && added.length === 1) {
    diff.renameCandidates.push({ from: dropped[0].name, to: added[0].name });
    diff.notes.push(
      `column ${quoteIdent(dropped[0].name)} is dropped and ${quoteIdent(added[0].name)} added: ` +
        `if this is a rename, use ALTER TABLE ${quoteIdent(table)} RENAME COLUMN instead (renames are never guessed)`,
    );
    return;
  }
  const list = (cols: Column[]) => cols.map((c) => quoteIdent(c.name)).join(", ");
  diff.notes.push(
    `columns ${list(dropped)} are dropped and ${list(added)} added: ` +
      `if some are renames, use ALTER TABLE ${quoteIdent(table)} RENAME COLUMN for them (renames are never guessed)`,
  );
}

/**
 * Objects of one table present on one side only, or whose SQL changed (dropped and recreated):
 * names to drop, then names to create.
 */
function changedObjects<T extends { name: string; table: string; sql: string }>(table: string, from: T[], to: T[]): [string[], string[]] {
  const same = (a: T, b: T | undefined) => b !== undefined && normalizeSql(a.sql) === normalizeSql(b.sql);
  const mine = (xs: T[]) => xs.filter((x) => sameName(x.table, table));
  return [
    mine(from).filter((x) => !same(x, byName(to, x.name))).map((x) => x.name),
    mine(to).filter((x) => !same(x, byName(from, x.name))).map((x) => x.name),
  ];
}

/** Index ops for one table: an index whose SQL changed is dropped and recreated. */
function indexOps(table: string, from: Schema, to: Schema): TableOp[] {
  const [drop, create] = changedObjects<Index>(table, from.indexes, to.indexes);
  return [...drop.map((index) => ({ kind: "dropIndex" as const, index })), ...create.map((index) => ({ kind: "createIndex" as const, index }))];
}

function triggerOps(table: string, from: Schema, to: Schema): TableOp[] {
  const [drop, create] = changedObjects<Trigger>(table, from.triggers, to.triggers);
  return [...drop.map((trigger) => ({ kind: "dropTrigger" as const, trigger })), ...create.map((trigger) => ({ kind: "createTrigger" as const, trigger }))];
}

function compareViews(from: Schema, to: Schema): ViewOp[] {
  const ops: ViewOp[] = [];
  for (const v of from.views) {
    const t = byName(to.views, v.name);
    if (!t || normalizeSql(t.sql) !== normalizeSql(v.sql)) ops.push({ kind: "dropView", view: v.name });
  }
  for (const v of to.views) {
    const f = byName(from.views, v.name);
    if (!f || normalizeSql(f.sql) !== normalizeSql(v.sql)) ops.push({ kind: "createView", view: v.name });
  }
  return ops;
}

/** A table that disappears while another appears may be a rename: say so, never act on it. */
function tableRenameNotes(tables: TableDiff[]): string[] {
  const dropped = tables.filter((t) => t.ops.length === 1 && t.ops[0].kind === "dropTable").map((t) => t.table);
  const created = tables.filter((t) => t.ops[0]?.kind === "createTable").map((t) => t.table);
  if (dropped.length === 0 || created.length === 0) return [];
  const list = (names: string[]) => names.map(quoteIdent).join(", ");
  return [
    `table(s) ${list(dropped)} dropped and ${list(created)} created: if this is a rename, ` +
      `use ALTER TABLE ... RENAME TO instead (renames are never guessed; the DROP loses the data)`,
  ];
}
