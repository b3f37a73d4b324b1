/**
 * The static rules: what one migration does, read from the statements it executed on a
 * scratch schema and from the schema before and after it (src/autogenerate's model). Renames
 * come from the statements (a schema diff cannot see them); losses, new constraints and
 * rebuilds from the two schemas.
 */
import { byName, normalizeSql, quoteIdent, type Column, type Schema, type Table } from "../autogenerate/index.ts";
import { identValue, isKeyword, significantTokens, type Token } from "../ddl/tokenize.ts";
import type { ExecutedStatement } from "./scratch.ts";
import { finding, type Code, type Finding } from "./findings.ts";

/** What a statement does to a table, as far as the rules care. */
type Action =
  | { kind: "dropTable"; table: string }
  | { kind: "renameTable"; table: string; to: string }
  | { kind: "renameColumn"; table: string; column: string; to: string }
  | { kind: "dropColumn"; table: string; column: string }
  | { kind: "addColumn"; table: string; column: string };

/** `[schema.]name` at tokens[i]: the name and the index after it. */
function qualifiedName(tokens: Token[], i: number): [string, number] {
  if (tokens[i + 1]?.text === ".") return [identValue(tokens[i + 2]!), i + 3];
  return [identValue(tokens[i]!), i + 1];
}

export function actionOf(sql: string): Action | undefined {
  const t = significantTokens(sql);
  if (isKeyword(t[0], "DROP") && isKeyword(t[1], "TABLE")) {
    const at = isKeyword(t[2], "IF") ? 4 : 2;
    return t[at] ? { kind: "dropTable", table: qualifiedName(t, at)[0] } : undefined;
  }
  if (!(isKeyword(t[0], "ALTER") && isKeyword(t[1], "TABLE") && t[2])) return undefined;
  const [table, i] = qualifiedName(t, 2);
  const word = (k: number) => t[k]?.text.toUpperCase();
  if (word(i) === "RENAME" && word(i + 1) === "TO" && t[i + 2]) return { kind: "renameTable", table, to: identValue(t[i + 2]!) };
  if (word(i) === "RENAME") {
    const c = word(i + 1) === "COLUMN" ? i + 2 : i + 1;
    if (t[c] && t[c + 2]) return { kind: "renameColumn", table, column: identValue(t[c]!), to: identValue(t[c + 2]!) };
  }
  if (word(i) === "DROP") {
    const c = word(i + 1) === "COLUMN" ? i + 2 : i + 1;
    if (t[c]) return { kind: "dropColumn", table, column: identValue(t[c]!) };
  }
  if (word(i) === "ADD") {
    const c = word(i + 1) === "COLUMN" ? i + 2 : i + 1;
    if (t[c]) return { kind: "addColumn", table, column: identValue(t[c]!) };
  }
  return undefined;
}

const lower = (s: string) => s.toLowerCase();

/** SQLite's column affinity from a declared type (datatype3.html §3.1). */
export function affinity(type: string): "INTEGER" | "TEXT" | "BLOB" | "REAL" | "NUMERIC" {
  const t = type.toUpperCase();
  if (t.includes("INT")) return "INTEGER";
  if (/CHAR|CLOB|TEXT/.test(t)) return "TEXT";
  if (t.includes("BLOB") || t.trim() === "") return "BLOB";
  if (/REAL|FLOA|DOUB/.test(t)) return "REAL";
  return "NUMERIC";
}

/**
 * Whether moving stored values to a column of the new type can change them: '007' under a
 * numeric affinity becomes 7, a REAL becomes text of 15 digits, a large INTEGER loses digits
 * as REAL. Widening to BLOB (no affinity) and INTEGER to TEXT/NUMERIC keep every value.
 */
export function lossyTypeChange(from: string, to: string): boolean {
  const a = affinity(from);
  const b = affinity(to);
  if (a === b || b === "BLOB") return false;
  const safe: Record<string, string[]> = { INTEGER: ["NUMERIC", "TEXT"], REAL: ["INTEGER", "NUMERIC"], NUMERIC: ["INTEGER"] };
  return !(safe[a] ?? []).includes(b);
}

export interface MigrationAnalysis {
  version: string;
  /** The file findings without a statement point at (the up file). */
  file: string;
  before: Schema;
  after: Schema;
  statements: ExecutedStatement[];
}

export function analyse(m: MigrationAnalysis): Finding[] {
  const out: Finding[] = [];
  const actions = m.statements.map((s) => ({ s, a: actionOf(s.sql) }));
  const existed = (name: string) => byName(m.before.tables, name) !== undefined;
  const survives = (name: string) => byName(m.after.tables, name) !== undefined;
  const fallback = { file: m.file, line: 1 };
  /** The first statement that names `table` (and `column`), for findings from the schemas. */
  const tokenNames = m.statements.map((s) => new Set(significantTokens(s.sql).map((t) => lower(identValue(t)))));
  const normalized = m.statements.map((s) => normalizeSql(s.sql));
  /** The statement that writes `text` (a column definition, a constraint), else the first naming the table (and column). */
  const where = (table: string, column?: string, text?: string): { file: string; line: number } => {
    const named = (i: number, name: string) => tokenNames[i]!.has(lower(name));
    const written = text === undefined ? undefined : m.statements.find((_, i) => normalized[i]!.includes(normalizeSql(text)));
    const hit = written ?? m.statements.find((_, i) => named(i, table) && (column === undefined || named(i, column))) ?? m.statements.find((_, i) => named(i, table));
    return hit ?? fallback;
  };
  const add = (code: Code, at: { file: string; line: number }, message: string) => out.push(finding(code, m.version, at, message));

  // Renames, from the statements: a rename of something the previous schema had.
  const renamedTables = new Map<string, string>(); // old (lower) → new
  const renamedColumns = new Map<string, Set<string>>(); // table (new name, lower) → old columns (lower)
  for (const { s, a } of actions) {
    if (a?.kind === "renameTable" && existed(a.table) && !survives(a.table) && survives(a.to)) {
      renamedTables.set(lower(a.table), a.to);
      add("incompatible.rename-table", s, `renames table ${quoteIdent(a.table)} to ${quoteIdent(a.to)}: the running app still uses the old name`);
    }
    if (a?.kind === "renameColumn" && existed(renamedFrom(a.table, renamedTables) ?? a.table)) {
      const key = lower(a.table);
      renamedColumns.set(key, (renamedColumns.get(key) ?? new Set()).add(lower(a.column)));
      add("incompatible.rename-column", s, `renames column ${quoteIdent(a.table)}.${quoteIdent(a.column)} to ${quoteIdent(a.to)}: the running app still uses the old name`);
    }
  }

  // Rebuilds: a table of the previous schema dropped (or renamed away) and there again after.
  // (SQLite has no other way to rebuild, so the statements say it; a schema diff would also
  // call a column rename a rebuild.)
  const rebuilt = new Set<string>();
  for (const { a } of actions) {
    if ((a?.kind === "dropTable" || a?.kind === "renameTable") && existed(a.table) && survives(a.table)) rebuilt.add(lower(a.table));
  }

  for (const f of m.before.tables) {
    const newName = renamedTables.get(lower(f.name)) ?? f.name;
    const t = byName(m.after.tables, newName);
    if (!t) {
      const drop = actions.find(({ a }) => a?.kind === "dropTable" && lower(a.table) === lower(f.name));
      add("destructive.drop-table", drop?.s ?? where(f.name), `drops table ${quoteIdent(f.name)} and every row in it`);
      continue;
    }
    analyseTable(f, t, rebuilt.has(lower(f.name)), renamedColumns.get(lower(t.name)) ?? new Set(), actions, where, add);
  }

  // New unique indexes on tables that already had rows.
  for (const ix of m.after.indexes) {
    const old = byName(m.before.indexes, ix.name);
    const table = renamedFrom(ix.table, renamedTables) ?? ix.table;
    if (!ix.unique || !existed(table) || (old && normalizeSql(old.sql) === normalizeSql(ix.sql))) continue;
    add("data-dependent.unique", where(ix.name), `new UNIQUE index ${quoteIdent(ix.name)} on ${quoteIdent(ix.table)} fails if existing rows have duplicates`);
  }
  return out;
}

function renamedFrom(name: string, renamed: Map<string, string>): string | undefined {
  for (const [from, to] of renamed) if (lower(to) === lower(name)) return from;
  return undefined;
}

function analyseTable(
  f: Table,
  t: Table,
  rebuilt: boolean,
  renamedColumns: Set<string>,
  actions: { s: ExecutedStatement; a: ReturnType<typeof actionOf> }[],
  where: (table: string, column?: string, text?: string) => { file: string; line: number },
  add: (code: Code, at: { file: string; line: number }, message: string) => void,
): void {
  const q = quoteIdent(t.name);
  const newName = (c: Column) => actions.find(({ a }) => a?.kind === "renameColumn" && lower(a.column) === lower(c.name) && lower(a.table) === lower(t.name))?.a;
  for (const c of f.columns) {
    const target = newName(c);
    const tc = byName(t.columns, target && target.kind === "renameColumn" ? target.to : c.name);
    if (!tc) {
      if (renamedColumns.has(lower(c.name))) continue;
      const drop = actions.find(({ a }) => a?.kind === "dropColumn" && lower(a.column) === lower(c.name) && lower(a.table) === lower(f.name));
      if (drop) add("destructive.drop-column", drop.s, `drops column ${q}.${quoteIdent(c.name)} and its values`);
      else add("destructive.rebuild-drops-column", where(t.name), `the rebuilt table ${q} no longer has column ${quoteIdent(c.name)}: its values are lost`);
      add("incompatible.drop-column", drop?.s ?? where(t.name), `column ${q}.${quoteIdent(c.name)} is gone while the running app may still read or write it`);
      continue;
    }
    if (tc.generated === null && c.generated === null && lossyTypeChange(c.type, tc.type)) {
      add("destructive.type-change", where(t.name, tc.name, tc.definition), `type of ${q}.${quoteIdent(tc.name)} changes from ${c.type || "none"} to ${tc.type || "none"}: stored values may be converted`);
    }
    if (!c.notNull && tc.notNull && tc.pk === 0) {
      add("data-dependent.not-null", where(t.name, tc.name, tc.definition), `${q}.${quoteIdent(tc.name)} becomes NOT NULL: fails if any existing row holds NULL`);
    }
    if (!c.unique && tc.unique) add("data-dependent.unique", where(t.name, tc.name, tc.definition), `${q}.${quoteIdent(tc.name)} becomes UNIQUE: fails if existing rows have duplicates`);
  }
  for (const tc of t.columns) {
    const isNew = !f.columns.some((c) => lower(c.name) === lower(tc.name)) && !actions.some(({ a }) => a?.kind === "renameColumn" && lower(a.to) === lower(tc.name));
    const noDefault = tc.defaultValue === null || tc.defaultValue.toUpperCase() === "NULL";
    if (isNew && tc.notNull && noDefault && tc.generated === null && tc.pk === 0) {
      add("incompatible.not-null-without-default", where(t.name, tc.name, tc.definition), `new column ${q}.${quoteIdent(tc.name)} is NOT NULL without a default: inserts from the running app version fail`);
    }
  }
  const normalized = (xs: string[]) => new Set(xs.map(normalizeSql));
  const oldChecks = normalized(f.checks);
  for (const check of t.checks) {
    if (!oldChecks.has(normalizeSql(check))) add("data-dependent.check", where(t.name, undefined, check), `new ${check} on ${q} fails if existing rows violate it`);
  }
  const oldUniques = normalized(f.constraints.filter((c) => c.kind === "unique").map((c) => c.text));
  for (const u of t.constraints.filter((c) => c.kind === "unique")) {
    if (!oldUniques.has(normalizeSql(u.text))) add("data-dependent.unique", where(t.name, undefined, u.text), `new ${u.text} on ${q} fails if existing rows have duplicates`);
  }
  const fkKey = (k: Table["foreignKeys"][number]) => lower(`${k.from.join(",")}>${k.table}(${k.to.join(",")})`);
  const oldFks = new Set(f.foreignKeys.map(fkKey));
  for (const k of t.foreignKeys) {
    if (!oldFks.has(fkKey(k))) add("data-dependent.foreign-key", where(t.name, k.from[0]), `new foreign key ${q}(${k.from.join(", ")}) → ${quoteIdent(k.table)}: existing rows may not match a parent`);
  }
  if (rebuilt) {
    const drop = actions.find(({ a }) => (a?.kind === "dropTable" || a?.kind === "renameTable") && lower(a.table) === lower(f.name));
    add("costly.rebuild", drop?.s ?? where(t.name), `rebuilds table ${q}: every row is copied while the write lock is held`);
  }
}
