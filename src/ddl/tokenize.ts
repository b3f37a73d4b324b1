// A small SQLite tokenizer: enough to split DDL into its parts, to find the
// identifiers an expression mentions, and to compare statements while ignoring
// cosmetic differences (whitespace, comments, keyword case, quoting style).
// It is deliberately lenient: it never throws, unknown characters become
// one-character punctuation tokens.

export type TokenKind =
  | "space"
  | "comment"
  | "word" // bare identifier or keyword
  | "quoted" // "ident", `ident` or [ident]
  | "string" // 'text'
  | "blob" // x'00ff'
  | "number"
  | "variable" // ?1, :name, @name, $name
  | "punct";

export interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;
// Longest operators first so that "->>" wins over "->".
const OPERATORS = ["->>", "->", "||", "<=", ">=", "==", "!=", "<>", "<<", ">>"];

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const kind = classify(sql, i);
    const end = scanToken(sql, i, kind);
    tokens.push({ kind, text: sql.slice(i, end), start: i, end });
    i = end;
  }
  return tokens;
}

/** Tokens that carry meaning: no whitespace, no comments. */
export function significantTokens(sql: string): Token[] {
  return tokenize(sql).filter((t) => t.kind !== "space" && t.kind !== "comment");
}

function classify(sql: string, i: number): TokenKind {
  const c = sql[i];
  const next = sql[i + 1] ?? "";
  if (/\s/.test(c)) return "space";
  if ((c === "-" && next === "-") || (c === "/" && next === "*")) return "comment";
  if ((c === "x" || c === "X") && next === "'") return "blob";
  if (WORD_START.test(c)) return "word";
  if (c === '"' || c === "`" || c === "[") return "quoted";
  if (c === "'") return "string";
  if (DIGIT.test(c) || (c === "." && DIGIT.test(next))) return "number";
  if (c === "?" || c === ":" || c === "@" || c === "$") return "variable";
  return "punct";
}

/** End offset (exclusive) of the token starting at `i`. */
function scanToken(sql: string, i: number, kind: TokenKind): number {
  const c = sql[i];
  switch (kind) {
    case "space": {
      let j = i;
      while (j < sql.length && /\s/.test(sql[j])) j++;
      return j;
    }
    case "comment": {
      if (c === "-") {
        const nl = sql.indexOf("\n", i);
        return nl === -1 ? sql.length : nl;
      }
      const close = sql.indexOf("*/", i + 2);
      return close === -1 ? sql.length : close + 2;
    }
    case "blob":
      return scanQuoted(sql, i + 1, "'");
    case "word":
    case "variable": {
      let j = i + 1;
      while (j < sql.length && WORD_PART.test(sql[j])) j++;
      return j;
    }
    case "quoted":
      return scanQuoted(sql, i, c === "[" ? "]" : c);
    case "string":
      return scanQuoted(sql, i, "'");
    case "number":
      return scanNumber(sql, i);
    case "punct": {
      const op = OPERATORS.find((o) => sql.startsWith(o, i));
      return i + (op ? op.length : 1);
    }
  }
}

/** End offset of a quoted token starting at `i`; a doubled closer is an escape. */
function scanQuoted(sql: string, i: number, closer: string): number {
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === closer) {
      if (closer !== "]" && sql[j + 1] === closer) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return sql.length;
}

function scanNumber(sql: string, i: number): number {
  if (sql[i] === "0" && /[xX]/.test(sql[i + 1] ?? "")) {
    let j = i + 2;
    while (j < sql.length && /[0-9a-fA-F_]/.test(sql[j])) j++;
    return j;
  }
  let j = i;
  while (j < sql.length && /[0-9_.]/.test(sql[j])) j++;
  if (/[eE]/.test(sql[j] ?? "")) {
    let k = j + 1;
    if (/[+-]/.test(sql[k] ?? "")) k++;
    if (DIGIT.test(sql[k] ?? "")) {
      j = k;
      while (j < sql.length && DIGIT.test(sql[j])) j++;
    }
  }
  return j;
}

/** The name a word/quoted/string token denotes (SQLite accepts 'x' as a name in DDL). */
export function identValue(token: Token): string {
  const t = token.text;
  switch (token.kind) {
    case "quoted":
      if (t.startsWith("[")) return t.slice(1, -1);
      return t.slice(1, -1).split(t[0] + t[0]).join(t[0]);
    case "string":
      return t.slice(1, -1).split("''").join("'");
    default:
      return t;
  }
}

export function isIdentToken(token: Token): boolean {
  return token.kind === "word" || token.kind === "quoted";
}

/** True when `token` is the bare keyword `kw` (case-insensitive). */
export function isKeyword(token: Token | undefined, kw: string): boolean {
  return token !== undefined && token.kind === "word" && token.text.toUpperCase() === kw;
}

/** Double-quote an identifier, doubling embedded quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Single-quote a string literal, doubling embedded quotes. */
export function quoteString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Lower-cased names of every identifier the SQL mentions (over-approximates on purpose). */
export function identifiersIn(sql: string): Set<string> {
  const names = new Set<string>();
  for (const t of significantTokens(sql)) {
    if (isIdentToken(t)) names.add(identValue(t).toLowerCase());
  }
  return names;
}

/**
 * Canonical text for comparing two statements or fragments. Identifiers and
 * keywords are case-folded (SQLite names are ASCII case-insensitive) and
 * unquoted, comments and whitespace disappear, `IF NOT EXISTS` is dropped and
 * string/number literals stay exact. The result is for comparison only and is
 * never executed.
 */
export function normalizeSql(sql: string): string {
  const tokens = significantTokens(sql);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (isKeyword(t, "IF") && isKeyword(tokens[i + 1], "NOT") && isKeyword(tokens[i + 2], "EXISTS")) {
      i += 2;
      continue;
    }
    if (t.text === ";" && i === tokens.length - 1) continue;
    out.push(canonicalToken(t));
  }
  return out.join(" ");
}

function canonicalToken(t: Token): string {
  switch (t.kind) {
    case "word":
      return t.text.toLowerCase();
    case "quoted": {
      const name = identValue(t).toLowerCase();
      return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdent(name);
    }
    case "blob":
      return t.text.toLowerCase();
    default:
      return t.text;
  }
}

/** Index of the token closing the parenthesis opened at `open` (or the last token). */
export function matchingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i].text === "(") depth++;
    else if (tokens[i].text === ")" && --depth === 0) return i;
  }
  return tokens.length - 1;
}

/** Split tokens[from..to) at top-level commas. */
export function splitTopLevel(tokens: Token[], from: number, to: number): Token[][] {
  const parts: Token[][] = [];
  let current: Token[] = [];
  let depth = 0;
  for (let i = from; i < to; i++) {
    const t = tokens[i];
    if (t.text === "(") depth++;
    if (t.text === ")") depth--;
    if (t.text === "," && depth === 0) {
      parts.push(current);
      current = [];
    } else {
      current.push(t);
    }
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/** Original source text spanning a run of tokens (comments inside are kept). */
export function sourceOf(sql: string, tokens: Token[]): string {
  if (tokens.length === 0) return "";
  return sql.slice(tokens[0].start, tokens[tokens.length - 1].end);
}
