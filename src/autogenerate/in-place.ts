// What SQLite (and libSQL) can do to a table in place, and why not when it
// can't: ADD COLUMN and DROP COLUMN have fixed rules
// (https://www.sqlite.org/lang_altertable.html), libSQL's ALTER COLUMN has
// measured ones. Each blocker is the sentence a rebuild comment gives as its reason.

import { hasExpressionDefault, isNullDefault } from "../ddl/default-value.ts";
import { identifiersIn, normalizeSql, quoteIdent } from "../ddl/tokenize.ts";
import { byName, sameName, type Column, type Index, type Schema, type Table } from "../ddl/model.ts";

/**
 * libSQL's ALTER COLUMN rewrites the column's text inside CREATE TABLE by
 * scanning for its end; measured on libSQL 3.45.1 a comma in the old text
 * (`DECIMAL(10,2)`) corrupts the stored schema. Only plain one-line
 * definitions go through it; anything else is rebuilt.
 */
export function alterColumnCopes(f: Table, t: Table, column: string): boolean {
  const plain = (c: Column | undefined) => c !== undefined && !/[,()\n\r]|--|\/\*/.test(c.definition);
  return plain(byName(f.columns, column)) && plain(byName(t.columns, column));
}

/** Why SQLite's ALTER TABLE ADD COLUMN cannot add this column (lang_altertable.html), or null. */
export function addColumnBlocker(c: Column): string | null {
  const dflt = c.defaultValue;
  const nullDefault = isNullDefault(dflt);
  if (c.pk > 0) return "it is part of the PRIMARY KEY";
  if (c.unique) return "it has a UNIQUE constraint";
  if (c.generated === "stored") return "it is a STORED generated column";
  if (dflt !== null && (hasExpressionDefault(c.definition) || /^CURRENT_(TIME|DATE|TIMESTAMP)$/i.test(dflt.trim()))) {
    return `its default ${dflt} is an expression (ADD COLUMN takes constants only)`;
  }
  if (c.notNull && c.generated === null && nullDefault) return "NOT NULL needs a non-NULL default";
  if (c.references !== null && !nullDefault) return "a REFERENCES column must default to NULL";
  // Measured on libSQL 3.45.1: the CHECK pass over existing rows reads such a default as NULL.
  if (c.notNull && c.checks.length > 0 && dflt !== null && isFractional(dflt)) {
    return "libSQL (SQLite 3.45) reports a false NOT NULL failure for an added NOT NULL column with a CHECK and a REAL default";
  }
  return null;
}

/** A numeric literal whose value is not an integer (1.5, -1.5, 15e-1; not 2.0 or '1.5'). */
function isFractional(dflt: string): boolean {
  const text = dflt.trim().replace(/^\+/, "");
  return /^-?[0-9.]/.test(text) && Number.isFinite(Number(text)) && !Number.isInteger(Number(text));
}

/** Why SQLite's ALTER TABLE DROP COLUMN cannot drop this column, or null. */
export function dropColumnBlocker(c: Column, table: Table, from: Schema, to: Schema): string | null {
  const name = c.name.toLowerCase();
  if (c.pk > 0) return "it is part of the PRIMARY KEY";
  if (c.unique) return "it has a UNIQUE constraint";
  for (const k of table.constraints) {
    if (k.columns.includes(name)) return `it is used by a table ${k.kind.toUpperCase()} constraint`;
    if (k.kind === "check" && identifiersIn(k.text).has(name)) return "it is used by a CHECK constraint";
  }
  for (const other of table.columns) {
    if (other === c) continue;
    if (other.generatedExpr !== null && identifiersIn(other.generatedExpr).has(name)) {
      return `generated column ${quoteIdent(other.name)} uses it`;
    }
    if (other.checks.some((k) => identifiersIn(k).has(name))) return `CHECK on ${quoteIdent(other.name)} uses it`;
  }
  // Indexes that are themselves dropped first by the migration do not count.
  const kept = from.indexes.filter((i) => sameName(i.table, table.name) && keptIndex(i, to));
  const user = kept.find((i) => indexMentions(i, name));
  return user ? `it is indexed by ${quoteIdent(user.name)}` : null;
}

function keptIndex(i: Index, to: Schema): boolean {
  const t = byName(to.indexes, i.name);
  return t !== undefined && normalizeSql(t.sql) === normalizeSql(i.sql);
}

function indexMentions(i: Index, column: string): boolean {
  return (
    i.columns.some((c) => c.name?.toLowerCase() === column || (c.expression !== null && identifiersIn(c.expression).has(column))) ||
    (i.partial !== null && identifiersIn(i.partial).has(column))
  );
}
