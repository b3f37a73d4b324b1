/**
 * What sqld 0.24.32 refuses before SQLite sees a statement, for the Hrana test server
 * (hrana-server.ts): sqld parses every statement of a request with its own parser first, refuses
 * temporary objects, ATTACH, VACUUM, ANALYZE and `PRAGMA optimize` on remote connections, and
 * answers both those and syntax errors with the Hrana code SQL_PARSE_ERROR. The list was taken
 * from sqld itself (hrana-server.test.ts compares the two on the same statements).
 */
import Database from "libsql";

const REFUSED: RegExp[] = [
  /^CREATE\s+TEMP(?:ORARY)?\s+(?:TABLE|VIEW|TRIGGER)\b/i,
  /^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:temp|"temp"|`temp`|\[temp\])\s*\./i,
  /^ATTACH\b/i,
  /^VACUUM\b/i,
  /^ANALYZE\b/i,
  /^PRAGMA\s+(?:\w+\s*\.\s*)?optimize\b/i,
];

/** Leading comments and blanks of a statement text. */
const LEADING = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?(?:\*\/|$))*/;

/**
 * The statements of an SQL text, split at the semicolons that end them: quotes, comments and
 * the BEGIN … END bodies of triggers (with CASE … END inside) are respected.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let words: string[] = [];
  let depth = 0;
  let i = 0;
  const push = (end: number): void => {
    const text = sql.slice(start, end);
    if (text.replace(LEADING, "").trim() !== "") out.push(text);
    start = end + 1;
    words = [];
    depth = 0;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      i++;
      while (i < sql.length) {
        if (sql[i] === close) {
          if (close !== "]" && sql[i + 1] === close) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") i++;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i))![0];
      const word = m.toUpperCase();
      words.push(word);
      const isTrigger = words[0] === "CREATE" && (words[1] === "TRIGGER" || words[2] === "TRIGGER");
      if (isTrigger && (word === "BEGIN" || (depth > 0 && word === "CASE"))) depth++;
      else if (isTrigger && depth > 0 && word === "END") depth--;
      i += m.length;
    } else if (c === ";" && depth === 0) {
      push(i);
      i++;
    } else i++;
  }
  push(sql.length);
  return out;
}

let scratch: Database.Database | undefined;

/**
 * Why sqld would refuse this one statement before running anything, or undefined. Syntax is
 * checked by preparing it on an empty in-memory database; only syntax errors count there
 * (missing tables do not), told apart by SQLite's wording since libsql gives them no own code.
 */
export function parseRefusal(statement: string): string | undefined {
  const text = statement.replace(LEADING, "").trim();
  if (REFUSED.some((re) => re.test(text))) return `SQL string could not be parsed: unsupported statement: ${text}`;
  scratch ??= new Database(":memory:");
  try {
    scratch.prepare(statement);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/syntax error|incomplete input|unrecognized token/.test(message)) return `SQL string could not be parsed: ${message}`;
  }
  return undefined;
}

/** The first refusal among the statements of a text (sqld parses a whole sequence first). */
export function sequenceRefusal(sql: string): string | undefined {
  for (const statement of splitStatements(sql)) {
    const refusal = parseRefusal(statement);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}
