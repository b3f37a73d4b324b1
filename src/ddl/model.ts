// The schema model: what introspect() reads and compare/render/rebuild work on. It lives in ddl/
// because the table rebuild and dependency ordering need it and autogenerate/ sits above ddl/.
// Plain data (arrays, no Maps) so it can be logged or serialized as-is.

export type GeneratedKind = "virtual" | "stored";

export interface Column {
  name: string;
  /** Position in the table (PRAGMA table_xinfo cid). */
  cid: number;
  /** Declared type as written, "" when none. */
  type: string;
  notNull: boolean;
  /** Default expression text as SQLite reports it (dflt_value), null when none. */
  defaultValue: string | null;
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number;
  /** Raw PRAGMA table_xinfo hidden flag: 0 normal, 1 hidden (virtual tables), 2 virtual generated, 3 stored generated. */
  hidden: number;
  generated: GeneratedKind | null;
  generatedExpr: string | null;
  /** Declared COLLATE, null when none (meaning BINARY). */
  collation: string | null;
  /** Column-level UNIQUE constraint. */
  unique: boolean;
  /** Column-level CHECK constraints as written. */
  checks: string[];
  /** Column-level REFERENCES clause as written. */
  references: string | null;
  /** The column definition exactly as written in CREATE TABLE (used for ADD COLUMN). */
  definition: string;
}

export interface ForeignKey {
  id: number;
  /** Parent table. */
  table: string;
  from: string[];
  /** Parent columns; null entries mean "the parent's primary key". */
  to: (string | null)[];
  onUpdate: string;
  onDelete: string;
  match: string;
}

export type TableConstraintKind = "primary key" | "unique" | "check" | "foreign key" | "other";

export interface TableConstraint {
  kind: TableConstraintKind;
  text: string;
  columns: string[];
}

export interface Table {
  name: string;
  /** The CREATE TABLE statement as stored in sqlite_schema. */
  sql: string;
  strict: boolean;
  withoutRowid: boolean;
  autoincrement: boolean;
  /** CREATE VIRTUAL TABLE (fts5, rtree...): compared by SQL only. */
  virtual: boolean;
  columns: Column[];
  foreignKeys: ForeignKey[];
  /** Every CHECK constraint (column- and table-level) as written. */
  checks: string[];
  /** Table-level constraints (PRIMARY KEY(...), UNIQUE(...), CHECK, FOREIGN KEY) as written. */
  constraints: TableConstraint[];
}

export interface IndexColumn {
  /** Column name, null for an expression term. */
  name: string | null;
  /** The term as written in CREATE INDEX for expression terms, else null. */
  expression: string | null;
  desc: boolean;
  collation: string;
}

export interface Index {
  name: string;
  table: string;
  unique: boolean;
  /** WHERE clause of a partial index, null otherwise. */
  partial: string | null;
  columns: IndexColumn[];
  sql: string;
}

export interface View {
  name: string;
  sql: string;
}

export interface Trigger {
  name: string;
  /** Table (or view, for INSTEAD OF triggers) the trigger is attached to. */
  table: string;
  sql: string;
}

export interface Schema {
  tables: Table[];
  indexes: Index[];
  views: View[];
  triggers: Trigger[];
}

/** Case-insensitive lookup: SQLite object names are ASCII case-insensitive. */
export function byName<T extends { name: string }>(items: T[], name: string): T | undefined {
  const key = name.toLowerCase();
  return items.find((item) => item.name.toLowerCase() === key);
}

export function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
