// A column's DEFAULT, carried as parsed SQL so it can be emitted where it
// means the same thing. SQLite reads `DEFAULT name`, `DEFAULT "name"`,
// `DEFAULT [name]` and `DEFAULT \`name\`` as the *string* 'name' (and
// `DEFAULT true/false` as 1/0), but the same token in an expression (say
// `COALESCE(col, "name")` in a rebuild's SELECT) reads a column. Inside
// `DEFAULT (expr)` a quoted token is an identifier already (libSQL has
// double-quoted strings off), and a column reference there is refused by
// SQLite as "not constant", so only the one-token forms need translating.

import { identValue, isKeyword, quoteString, significantTokens, normalizeSql } from "./tokenize.ts";

/**
 * The default as an expression with the same value in any expression
 * position (null for no default). `dflt` is PRAGMA table_xinfo's dflt_value,
 * i.e. the DEFAULT clause's text as written.
 */
export function defaultAsExpression(dflt: string | null): string | null {
  if (dflt === null) return null;
  const tokens = significantTokens(dflt);
  // dflt_value drops the parentheses of `DEFAULT (expr)`: put them back so the
  // expression stays one operand wherever it is placed.
  if (tokens.length !== 1) return `(${dflt.trim()})`;
  const [t] = tokens;
  if (t.kind === "quoted") return quoteString(identValue(t));
  if (t.kind !== "word") return t.text;
  if (isKeyword(t, "TRUE")) return "1";
  if (isKeyword(t, "FALSE")) return "0";
  if (isKeyword(t, "NULL") || /^CURRENT_(TIME|DATE|TIMESTAMP)$/i.test(t.text)) return t.text.toUpperCase();
  return quoteString(t.text);
}

/** True when the column has no default or its default is NULL. */
export function isNullDefault(dflt: string | null): boolean {
  return dflt === null || defaultAsExpression(dflt) === "NULL";
}

/** Comparison key: `DEFAULT "x"`, `DEFAULT x` and `DEFAULT 'x'` are the same default. */
export function defaultKey(dflt: string | null): string {
  const expr = defaultAsExpression(dflt);
  return expr === null ? "" : normalizeSql(expr);
}

/** Comparison key of a column definition, with its DEFAULT spelled canonically. */
export function definitionKey(definition: string): string {
  const tokens = significantTokens(definition);
  const at = tokens.findIndex((t, i) => isKeyword(t, "DEFAULT") && i + 1 < tokens.length);
  const value = tokens[at + 1];
  if (at === -1 || value.text === "(" || value.text === "-" || value.text === "+") return normalizeSql(definition);
  const canonical = defaultAsExpression(value.text)!;
  return normalizeSql(definition.slice(0, value.start) + canonical + definition.slice(value.end));
}

/** `DEFAULT (expr)` as written in a column definition (dflt_value no longer shows the parentheses). */
export function hasExpressionDefault(definition: string): boolean {
  const tokens = significantTokens(definition);
  const at = tokens.findIndex((t) => isKeyword(t, "DEFAULT"));
  return at !== -1 && tokens[at + 1]?.text === "(";
}
