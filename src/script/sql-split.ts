/**
 * Splits the text of an SQLite migration file into individual statements.
 *
 * The splitter is a single forward scan over the text. It does not parse SQL;
 * it only knows enough of SQLite's lexical rules to tell which semicolons end
 * a statement:
 *
 * - quoted tokens ('string', "identifier", `identifier`, [identifier]) and
 *   comments (-- line, block) are skipped as a whole, using indexOf to jump to
 *   their closing delimiter;
 * - the body of CREATE [TEMP|TEMPORARY] TRIGGER … BEGIN … END contains
 *   semicolons that do not end the statement.
 *
 * Statement text is always a slice of the input, never built up character by
 * character, and line numbers are computed lazily (only for positions that are
 * reported), so a multi-megabyte file costs one pass plus one line count.
 */

export interface SqlStatement {
  /** Statement text without leading/trailing whitespace and comments and without the ending ';'. */
  sql: string;
  /** 1-based line of the statement's first character that is neither whitespace nor comment. */
  line: number;
}

export interface SplitResult {
  statements: SqlStatement[];
  /** Lower-cased names from `-- strata:NAME` comment lines that precede the first statement. */
  directives: Set<string>;
}

/** The file cannot be split. `line` and `column` are 1-based; columns count UTF-16 code units. */
export class SqlSyntaxError extends Error {
  readonly line: number;
  readonly column: number;

  constructor(message: string, line: number, column: number) {
    super(message);
    this.name = "SqlSyntaxError";
    this.line = line;
    this.column = column;
  }
}

// Character classes for ASCII (0 = anything else); every non-ASCII character
// counts as an identifier character, as it does in SQLite's tokenizer.
const SPACE = 1;
const IDENT = 2;
const charClass = new Uint8Array(128);
for (const c of "\t\n\v\f\r ") charClass[c.charCodeAt(0)] = SPACE;
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") {
  charClass[c.charCodeAt(0)] = IDENT;
}

const LF = 0x0a;
const CR = 0x0d;
const DQUOTE = 0x22; // "
const QUOTE = 0x27; // '
const STAR = 0x2a; // *
const MINUS = 0x2d; // -
const SLASH = 0x2f; // /
const COLON = 0x3a; // :
const SEMI = 0x3b; // ;
const AT = 0x40; // @
const LBRACKET = 0x5b; // [
const BACKTICK = 0x60; // `

// Where we are in the first words of a statement, looking for
// CREATE [TEMP|TEMPORARY] TRIGGER.
const HEAD_START = 0; // no word seen yet
const HEAD_CREATE = 1; // after CREATE
const HEAD_TEMP = 2; // after CREATE TEMP / CREATE TEMPORARY
const HEAD_OTHER = 3; // not a trigger: the next top-level ';' ends the statement
const HEAD_TRIGGER = 4; // inside CREATE TRIGGER: only "; END ;" ends the statement

// Inside a trigger, what the previous significant token allows next.
const TRIG_PLAIN = 0; // an END here is not the one that closes the body
const TRIG_MAY_END = 1; // previous token was the body's BEGIN or a ';' inside the body
const TRIG_ENDED = 2; // the closing END was seen; ';' or end of input must follow

export function splitSql(text: string): SplitResult {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const n = src.length;
  const lines = new LineLocator(src);
  const statements: SqlStatement[] = [];
  const directives = new Set<string>();

  const fail = (message: string, pos: number): never => {
    const { line, column } = lines.locate(pos);
    throw new SqlSyntaxError(message.replace("{at}", `line ${line}, column ${column}`), line, column);
  };

  // Checked up front: one native scan, and it keeps NUL handling out of the main loop.
  const nul = src.indexOf("\0");
  if (nul !== -1) fail("NUL character at {at}; this looks like a binary file, not SQL text", nul);

  // State of the statement being scanned.
  let first = -1; // index of its first significant character, -1 while none
  let lastEnd = 0; // index just past its last significant token
  let head = HEAD_START;
  let trig = TRIG_PLAIN;
  let bodyStarted = false; // the trigger's BEGIN has been seen

  const reset = (): void => {
    first = -1;
    head = HEAD_START;
    trig = TRIG_PLAIN;
    bodyStarted = false;
  };

  const emit = (): void => {
    if (first < 0) return; // only whitespace and comments: dropped
    statements.push({ sql: src.slice(first, lastEnd), line: lines.locate(first).line });
  };

  // A significant token other than a word or ';'.
  const onToken = (start: number, end: number): void => {
    if (first < 0) first = start;
    lastEnd = end;
    if (head === HEAD_TRIGGER) {
      if (trig === TRIG_ENDED) fail("expected ';' after the END that closes the trigger body, at {at}", start);
      trig = TRIG_PLAIN;
    } else {
      head = HEAD_OTHER;
    }
  };

  const onWord = (start: number, end: number): void => {
    if (first < 0) first = start;
    lastEnd = end;
    switch (head) {
      case HEAD_START:
        head = isKeyword(src, start, end, "CREATE") ? HEAD_CREATE : HEAD_OTHER;
        break;
      case HEAD_CREATE:
        if (isKeyword(src, start, end, "TEMP") || isKeyword(src, start, end, "TEMPORARY")) head = HEAD_TEMP;
        else head = isKeyword(src, start, end, "TRIGGER") ? HEAD_TRIGGER : HEAD_OTHER;
        break;
      case HEAD_TEMP:
        head = isKeyword(src, start, end, "TRIGGER") ? HEAD_TRIGGER : HEAD_OTHER;
        break;
      case HEAD_TRIGGER:
        // The body END is recognised by position rather than by counting
        // BEGIN/CASE/END nesting: every statement in a trigger body ends with
        // ';' and none of them can start with END, so the END that closes the
        // body is exactly an END right after a body ';' (or right after BEGIN).
        // CASE … END, and columns that SQLite lets be named "end" or "begin",
        // never sit in that position.
        if (trig === TRIG_ENDED) fail("expected ';' after the END that closes the trigger body, at {at}", start);
        if (trig === TRIG_MAY_END && isKeyword(src, start, end, "END")) {
          trig = TRIG_ENDED;
        } else if (!bodyStarted && isKeyword(src, start, end, "BEGIN")) {
          bodyStarted = true;
          trig = TRIG_MAY_END;
        } else {
          trig = TRIG_PLAIN;
        }
        break;
      default:
        break;
    }
  };

  const onSemicolon = (pos: number): void => {
    if (head === HEAD_TRIGGER && trig !== TRIG_ENDED) {
      // A ';' inside the trigger: part of the statement.
      lastEnd = pos + 1;
      if (bodyStarted) trig = TRIG_MAY_END;
      return;
    }
    emit();
    reset();
  };

  // Skips a token quoted with `quote`, where a doubled quote is an escaped one.
  // Returns the index just past the closing quote.
  const skipQuoted = (open: number, quote: string, what: string): number => {
    const q = quote.charCodeAt(0);
    let from = open + 1;
    for (;;) {
      const close = src.indexOf(quote, from);
      if (close === -1) fail(`unterminated ${what} starting at {at}`, open);
      if (src.charCodeAt(close + 1) !== q) return close + 1;
      from = close + 2;
    }
  };

  let i = 0;
  while (i < n) {
    const c = src.charCodeAt(i);
    const cls = c < 128 ? charClass[c] : IDENT;
    if (cls === SPACE) {
      i++;
      continue;
    }
    if (cls === IDENT) {
      // A word: keyword, identifier, number, or $parameter.
      const start = i++;
      while (i < n) {
        const d = src.charCodeAt(i);
        if (d < 128 && charClass[d] !== IDENT) break;
        i++;
      }
      onWord(start, i);
      continue;
    }

    const start = i;
    switch (c) {
      case SEMI:
        onSemicolon(i);
        i++;
        break;
      case QUOTE:
        i = skipQuoted(i, "'", "string literal");
        onToken(start, i);
        break;
      case DQUOTE:
        i = skipQuoted(i, '"', "double-quoted identifier");
        onToken(start, i);
        break;
      case BACKTICK:
        i = skipQuoted(i, "`", "backtick-quoted identifier");
        onToken(start, i);
        break;
      case LBRACKET: {
        // [identifier] has no escape: it ends at the first ']'.
        const close = src.indexOf("]", i + 1);
        if (close === -1) fail("unterminated bracket-quoted identifier starting at {at}", i);
        i = close + 1;
        onToken(start, i);
        break;
      }
      case MINUS:
        if (src.charCodeAt(i + 1) === MINUS) {
          const nl = src.indexOf("\n", i + 2);
          const end = nl === -1 ? n : nl;
          if (statements.length === 0 && first < 0) collectDirective(src, i + 2, end, directives);
          i = end;
        } else {
          i++;
          onToken(start, i);
        }
        break;
      case SLASH:
        if (src.charCodeAt(i + 1) === STAR) {
          const close = src.indexOf("*/", i + 2);
          if (close === -1) fail("unterminated block comment starting at {at}", i);
          i = close + 2;
        } else {
          i++;
          onToken(start, i);
        }
        break;
      case COLON:
      case AT:
        // :name and @name parameters: consume the name so it is never taken
        // for a keyword.
        i++;
        while (i < n) {
          const d = src.charCodeAt(i);
          if (d < 128 && charClass[d] !== IDENT) break;
          i++;
        }
        onToken(start, i);
        break;
      default:
        i++;
        onToken(start, i);
        break;
    }
  }

  if (head === HEAD_TRIGGER && trig !== TRIG_ENDED) {
    fail("CREATE TRIGGER starting at {at} has no END closing its body", first);
  }
  emit();
  return { statements, directives };
}

/** Adds NAME to `directives` if src[from, to) (a line comment without its "--") reads "strata:NAME". */
function collectDirective(src: string, from: number, to: number, directives: Set<string>): void {
  const body = src.slice(from, to).trim();
  if (body.length <= 7 || body.slice(0, 7).toLowerCase() !== "strata:") return;
  const name = body.slice(7).trim().toLowerCase();
  if (name !== "") directives.add(name);
}

/** Case-insensitive whole-token comparison against an upper-case ASCII keyword, without allocating. */
function isKeyword(src: string, start: number, end: number, keyword: string): boolean {
  if (end - start !== keyword.length) return false;
  for (let k = 0; k < keyword.length; k++) {
    let c = src.charCodeAt(start + k);
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== keyword.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Maps string indexes to 1-based line/column. Lines end at LF, CRLF or a lone
 * CR. Queries are expected in increasing order (which is how the splitter asks),
 * so the text is scanned at most once overall; an earlier index restarts the
 * count from the top.
 */
class LineLocator {
  private readonly src: string;
  private pos = 0; // index up to which lines have been counted
  private line = 1; // line number at `pos`
  private lineStart = 0; // index where that line starts

  constructor(src: string) {
    this.src = src;
  }

  locate(target: number): { line: number; column: number } {
    if (target < this.pos) {
      this.pos = 0;
      this.line = 1;
      this.lineStart = 0;
    }
    const src = this.src;
    let line = this.line;
    let lineStart = this.lineStart;
    for (let i = this.pos; i < target; i++) {
      const c = src.charCodeAt(i);
      // For CRLF, the CR is skipped and the LF counts the line break.
      if (c === LF || (c === CR && src.charCodeAt(i + 1) !== LF)) {
        line++;
        lineStart = i + 1;
      }
    }
    this.pos = target;
    this.line = line;
    this.lineStart = lineStart;
    return { line, column: target - lineStart + 1 };
  }
}

/** Statements that end or nest transactions; inside a migration strata wraps, they would break its atomicity. */
const TRANSACTION_CONTROL = /^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;
/** Cheap pre-test: text without any of these words cannot hold transaction control. */
const MAY_HOLD_CONTROL = /BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE/i;

/**
 * The first transaction-control statement in `statements` (comments, case and position in a
 * multi-statement text do not hide it). The one classifier for SQL files and TS migrations.
 */
export function findTransactionControl(statements: readonly SqlStatement[]): (SqlStatement & { keyword: string }) | undefined {
  for (const s of statements) {
    const m = TRANSACTION_CONTROL.exec(s.sql);
    if (m) return { ...s, keyword: m[1]!.toUpperCase() };
  }
  return undefined;
}

/**
 * The same check for SQL text a TS migration passes at run time. Text the splitter cannot
 * split (an unterminated quote) is left to SQLite, which rejects it as well.
 */
export function transactionControlIn(sql: string): (SqlStatement & { keyword: string }) | undefined {
  if (!MAY_HOLD_CONTROL.test(sql)) return undefined;
  try {
    return findTransactionControl(splitSql(sql).statements);
  } catch (e) {
    if (e instanceof SqlSyntaxError) return undefined;
    throw e;
  }
}
