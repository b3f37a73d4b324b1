// Structural parsing of the CREATE statements SQLite keeps in sqlite_schema.
// SQLite's pragmas do not expose everything (collations, CHECK constraints,
// generated expressions, AUTOINCREMENT, the column definition text needed for
// ADD COLUMN), so those come from the statement text itself.

import {
  identValue,
  isIdentToken,
  isKeyword,
  matchingParen,
  quoteIdent,
  significantTokens,
  sourceOf,
  splitTopLevel,
  type Token,
} from "./tokenize.ts";

export interface ParsedColumn {
  name: string;
  /** The whole column definition as written, e.g. `price REAL NOT NULL DEFAULT 0`. */
  definition: string;
  /** Declared type as written (may be empty). */
  type: string;
  primaryKey: boolean;
  autoincrement: boolean;
  notNull: boolean;
  unique: boolean;
  collation: string | null;
  defaultExpr: string | null;
  /** CHECK constraints attached to this column, as full `CHECK (...)` text. */
  checks: string[];
  /** Column-level `REFERENCES ...` clause text, if any. */
  references: string | null;
  generated: { expr: string; stored: boolean } | null;
}

export type TableConstraintKind = "primary key" | "unique" | "check" | "foreign key" | "other";

export interface ParsedTableConstraint {
  kind: TableConstraintKind;
  /** The constraint as written, including any `CONSTRAINT name` prefix. */
  text: string;
  /** Columns named by PRIMARY KEY / UNIQUE / FOREIGN KEY (lower-case); empty for CHECK. */
  columns: string[];
}

export interface ParsedCreateTable {
  name: string;
  columns: ParsedColumn[];
  constraints: ParsedTableConstraint[];
  /** Table options after the column list, upper-cased: "STRICT", "WITHOUT ROWID". */
  options: string[];
  virtual: boolean;
}

const COLUMN_CONSTRAINT_START = new Set([
  "CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE", "REFERENCES", "GENERATED", "AS",
]);
const TABLE_CONSTRAINT_START = new Set(["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]);

/** Position of the object name in `CREATE ... TABLE|INDEX|VIEW|TRIGGER [IF NOT EXISTS] [schema.]name`. */
export function locateCreateName(tokens: Token[]): { first: number; last: number } {
  let i = 0;
  while (i < tokens.length && !["TABLE", "INDEX", "VIEW", "TRIGGER"].includes(tokens[i].text.toUpperCase())) i++;
  i++;
  if (isKeyword(tokens[i], "IF")) i += 3;
  if (tokens[i + 1]?.text === ".") return { first: i, last: i + 2 };
  return { first: i, last: i };
}

/** The unqualified name a CREATE statement defines. */
export function createdName(sql: string): string {
  const tokens = significantTokens(sql);
  return identValue(tokens[locateCreateName(tokens).last]);
}

/** Rewrite a CREATE statement so it defines `newName` instead (keeps everything else verbatim). */
export function renameCreateStatement(sql: string, newName: string): string {
  const tokens = significantTokens(sql);
  const { first, last } = locateCreateName(tokens);
  return sql.slice(0, tokens[first].start) + quoteIdent(newName) + sql.slice(tokens[last].end);
}

/**
 * A CREATE TABLE under another name, with the table's own qualified column
 * references (`CHECK (t.a > 0)`) following the new name: SQLite resolves
 * them against the table being created.
 */
export function renameCreateTable(sql: string, newName: string): string {
  const tokens = significantTokens(sql);
  const { first, last } = locateCreateName(tokens);
  const oldName = identValue(tokens[last]).toLowerCase();
  let out = sql.slice(0, tokens[first].start) + quoteIdent(newName);
  let at = tokens[last].end;
  for (let i = last + 1; i < tokens.length - 1; i++) {
    const t = tokens[i];
    const qualifies = isIdentToken(t) && identValue(t).toLowerCase() === oldName && tokens[i + 1].text === "." && tokens[i - 1].text !== ".";
    if (!qualifies) continue;
    out += sql.slice(at, t.start) + quoteIdent(newName);
    at = t.end;
  }
  return out + sql.slice(at);
}

export function parseCreateTable(sql: string): ParsedCreateTable {
  const tokens = significantTokens(sql);
  const { last } = locateCreateName(tokens);
  const name = identValue(tokens[last]);
  const virtual = tokens.slice(0, last).some((t) => isKeyword(t, "VIRTUAL"));
  const open = tokens.findIndex((t, i) => i > last && t.text === "(");
  if (virtual || open === -1) return { name, columns: [], constraints: [], options: [], virtual };
  const close = matchingParen(tokens, open);
  const columns: ParsedColumn[] = [];
  const constraints: ParsedTableConstraint[] = [];
  for (const part of splitTopLevel(tokens, open + 1, close)) {
    if (part.length === 0) continue;
    if (TABLE_CONSTRAINT_START.has(part[0].text.toUpperCase()) && part[0].kind === "word") {
      constraints.push(parseTableConstraint(sql, part));
    } else {
      columns.push(parseColumn(sql, part));
    }
  }
  const options = splitTopLevel(tokens, close + 1, tokens.length)
    .map((p) => p.map((t) => t.text.toUpperCase()).join(" "))
    .filter((o) => o !== "" && o !== ";");
  return { name, columns, constraints, options, virtual };
}

function parseColumn(sql: string, part: Token[]): ParsedColumn {
  const col: ParsedColumn = {
    name: identValue(part[0]),
    definition: sourceOf(sql, part),
    type: "",
    primaryKey: false,
    autoincrement: false,
    notNull: false,
    unique: false,
    collation: null,
    defaultExpr: null,
    checks: [],
    references: null,
    generated: null,
  };
  let i = 1;
  const typeStart = i;
  while (i < part.length && !(part[i].kind === "word" && COLUMN_CONSTRAINT_START.has(part[i].text.toUpperCase()))) {
    i = part[i].text === "(" ? matchingParen(part, i) + 1 : i + 1;
  }
  col.type = sourceOf(sql, part.slice(typeStart, i));
  while (i < part.length) i = parseColumnConstraint(sql, part, i, col);
  return col;
}

/** Parse one column constraint starting at part[i]; returns the index after it. */
function parseColumnConstraint(sql: string, part: Token[], i: number, col: ParsedColumn): number {
  const kw = part[i].text.toUpperCase();
  switch (kw) {
    case "CONSTRAINT":
      return i + 2;
    case "PRIMARY": {
      col.primaryKey = true;
      let j = skipConflictClause(part, i + 2);
      if (isKeyword(part[j], "ASC") || isKeyword(part[j], "DESC")) j = skipConflictClause(part, j + 1);
      if (isKeyword(part[j], "AUTOINCREMENT")) {
        col.autoincrement = true;
        j++;
      }
      return j;
    }
    case "NOT":
      col.notNull = true;
      return skipConflictClause(part, i + 2);
    case "NULL":
      return skipConflictClause(part, i + 1);
    case "UNIQUE":
      col.unique = true;
      return skipConflictClause(part, i + 1);
    case "CHECK": {
      const end = matchingParen(part, i + 1);
      col.checks.push(sourceOf(sql, part.slice(i, end + 1)));
      return end + 1;
    }
    case "DEFAULT":
      return parseDefault(sql, part, i + 1, col);
    case "COLLATE":
      col.collation = part[i + 1] ? identValue(part[i + 1]) : null;
      return i + 2;
    case "REFERENCES": {
      const end = endOfForeignKeyClause(part, i + 1);
      col.references = sourceOf(sql, part.slice(i, end));
      return end;
    }
    case "GENERATED":
    case "AS":
      return parseGenerated(sql, part, kw === "GENERATED" ? i + 2 : i, col);
    default:
      return i + 1; // unknown token: skip it rather than fail
  }
}

function parseDefault(sql: string, part: Token[], i: number, col: ParsedColumn): number {
  if (part[i]?.text === "(") {
    const end = matchingParen(part, i);
    col.defaultExpr = sourceOf(sql, part.slice(i, end + 1));
    return end + 1;
  }
  // A signed number is two tokens: "-" and the digits.
  const end = part[i]?.text === "-" || part[i]?.text === "+" ? i + 2 : i + 1;
  col.defaultExpr = sourceOf(sql, part.slice(i, end));
  return end;
}

/** `[GENERATED ALWAYS] AS (expr) [STORED|VIRTUAL]`, with `i` at AS. */
function parseGenerated(sql: string, part: Token[], i: number, col: ParsedColumn): number {
  const end = matchingParen(part, i + 1);
  const expr = sourceOf(sql, part.slice(i + 2, end));
  let j = end + 1;
  let stored = false;
  if (isKeyword(part[j], "STORED")) {
    stored = true;
    j++;
  } else if (isKeyword(part[j], "VIRTUAL")) {
    j++;
  }
  col.generated = { expr, stored };
  return j;
}

/** `ON CONFLICT <algorithm>` is optional after several constraints. */
function skipConflictClause(part: Token[], i: number): number {
  return isKeyword(part[i], "ON") && isKeyword(part[i + 1], "CONFLICT") ? i + 3 : i;
}

/** Index just past a foreign-key clause that starts at the parent table name. */
function endOfForeignKeyClause(part: Token[], i: number): number {
  let j = i + 1;
  if (part[j]?.text === "(") j = matchingParen(part, j) + 1;
  for (;;) {
    const t = part[j];
    if (isKeyword(t, "ON")) {
      // ON DELETE|UPDATE SET NULL|SET DEFAULT|NO ACTION|CASCADE|RESTRICT
      const two = isKeyword(part[j + 2], "SET") || isKeyword(part[j + 2], "NO");
      j += two ? 4 : 3;
    } else if (isKeyword(t, "MATCH")) {
      j += 2;
    } else if (isKeyword(t, "NOT") && isKeyword(part[j + 1], "DEFERRABLE")) {
      j += 1;
    } else if (isKeyword(t, "DEFERRABLE")) {
      j += 1;
      if (isKeyword(part[j], "INITIALLY")) j += 2;
    } else {
      return j;
    }
  }
}

function parseTableConstraint(sql: string, part: Token[]): ParsedTableConstraint {
  let i = 0;
  if (isKeyword(part[0], "CONSTRAINT")) i = 2;
  const text = sourceOf(sql, part);
  const head = part[i]?.text.toUpperCase();
  const kind: TableConstraintKind =
    head === "PRIMARY" ? "primary key"
    : head === "UNIQUE" ? "unique"
    : head === "CHECK" ? "check"
    : head === "FOREIGN" ? "foreign key"
    : "other";
  const open = part.findIndex((t, j) => j > i && t.text === "(");
  const columns = kind === "check" || open === -1 ? [] : columnNamesOfList(part, open);
  return { kind, text, columns };
}

/** Leading identifier of each item in a parenthesized indexed-column list. */
function columnNamesOfList(tokens: Token[], open: number): string[] {
  return splitTopLevel(tokens, open + 1, matchingParen(tokens, open))
    .filter((item) => item.length > 0 && isIdentToken(item[0]))
    .map((item) => identValue(item[0]).toLowerCase());
}

export interface ParsedCreateIndex {
  name: string;
  table: string;
  unique: boolean;
  /** Each indexed term as written: `lower(email)`, `created_at DESC`. */
  terms: string[];
  where: string | null;
}

export function parseCreateIndex(sql: string): ParsedCreateIndex {
  const tokens = significantTokens(sql);
  const { last } = locateCreateName(tokens);
  const unique = tokens.slice(0, last).some((t) => isKeyword(t, "UNIQUE"));
  const on = tokens.findIndex((t, i) => i > last && isKeyword(t, "ON"));
  const table = identValue(tokens[on + 1]);
  const open = tokens.findIndex((t, i) => i > on && t.text === "(");
  const close = matchingParen(tokens, open);
  const terms = splitTopLevel(tokens, open + 1, close).map((p) => sourceOf(sql, p));
  const whereAt = tokens.findIndex((t, i) => i > close && isKeyword(t, "WHERE"));
  const where = whereAt === -1 ? null : sourceOf(sql, tokens.slice(whereAt + 1));
  return { name: identValue(tokens[last]), table, unique, terms, where: where?.replace(/;\s*$/, "") ?? null };
}
