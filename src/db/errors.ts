/**
 * Turning @libsql/client and network errors into one clear StrataError line. The URL in every
 * message is the redacted one.
 */
import { StrataError, firstLine, messageOf } from "../errors.ts";
import { redactSecrets } from "../output/redact.ts";

interface LibsqlLike {
  code?: string;
  rawCode?: number;
  message: string;
  cause?: unknown;
}

/** SQLite's message without the "SQLITE_ERROR: " prefix @libsql/client adds. */
export function sqliteMessage(e: unknown): string {
  const m = messageOf(e);
  return redactSecrets(m.replace(/^SQLITE_[A-Z_]+: /, "").replace(/^SQL_INPUT_ERROR: /, ""));
}

function allText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const x = cur as LibsqlLike;
    parts.push(`${x.code ?? ""} ${x.message ?? String(cur)}`);
    cur = x.cause;
  }
  return parts.join(" | ");
}

/** Whether an error means the server could not be reached or answered at transport level. */
export function isTransportError(e: unknown): boolean {
  const text = allText(e);
  return /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|UND_ERR|fetch failed|socket hang up|other side closed|HRANA_WEBSOCKET_ERROR|SERVER_ERROR|status 5\d\d|HTTP status 5|network|timed? ?out/i.test(text);
}

export function isAuthError(e: unknown): boolean {
  return /\b401\b|\b403\b|unauthori[sz]ed|forbidden|AUTH/i.test(allText(e));
}

/** Wraps any database error as a StrataError (kind unreachable or failure). */
export function describeDbError(e: unknown, displayUrl: string): StrataError {
  if (e instanceof StrataError) return e;
  const text = allText(e);
  if (isAuthError(e)) {
    return new StrataError("unreachable", `authentication failed for ${displayUrl}`, {
      hint: "check the auth token (--auth-token, --auth-token-file, DATABASE_AUTH_TOKEN)",
      cause: e,
    });
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) {
    return new StrataError("unreachable", `cannot resolve host of ${displayUrl}`, {
      hint: "check the hostname in the URL and DNS on this machine",
      cause: e,
    });
  }
  if (/ECONNREFUSED/.test(text)) {
    return new StrataError("unreachable", `connection refused by ${displayUrl}`, {
      hint: "check that the server is running and the port is right",
      cause: e,
    });
  }
  if (isTransportError(e)) {
    return new StrataError("unreachable", `cannot reach ${displayUrl}: ${firstLine(sqliteMessage(e))}`, {
      hint: "check the network and the server; `strata wait` waits until it answers",
      cause: e,
    });
  }
  if (/SQLITE_NOTADB|file is not a database/i.test(text)) {
    return new StrataError("unreachable", `${displayUrl} is not an SQLite database`, {
      hint: "check --url: the file exists but is not an SQLite database",
      cause: e,
    });
  }
  if (/SQLITE_CANTOPEN|unable to open (database|connection)|Unable to open connection/i.test(text)) {
    return new StrataError("unreachable", `cannot open ${displayUrl}`, { hint: "check the path and permissions", cause: e });
  }
  if (/SQLITE_READONLY|readonly database/i.test(text)) {
    return new StrataError("failure", `${displayUrl} is read-only: ${sqliteMessage(e)}`, {
      hint: "check file and directory permissions (SQLite also writes a journal next to the file)",
      cause: e,
    });
  }
  if (/SQLITE_BUSY|database is locked/i.test(text)) {
    return new StrataError("lock", `${displayUrl} is locked by another process: ${sqliteMessage(e)}`, {
      hint: "another process holds a write lock; retry later or raise --lock-timeout",
      cause: e,
    });
  }
  return new StrataError("failure", `${firstLine(sqliteMessage(e))} (${displayUrl})`, { cause: e });
}
