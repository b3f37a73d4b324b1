/**
 * The one error classifier. Every failure from @libsql/client, the network or SQLite is sorted
 * into a class from structured fields only — libsql `code` / `rawCode`, the Hrana error code,
 * the HTTP status, errno names — walking the `cause` chain. Message text never decides anything:
 * servers echo the failing SQL in their messages, and a migration may say whatever it likes.
 */
import { StrataError, firstLine, messageOf } from "../errors.ts";
import { redactSecrets } from "../output/redact.ts";

export type ErrorClass =
  /** The request may not have reached the server, or its answer was lost: retry / re-read. */
  | "transport"
  /** The request did not complete in time (the per-request timeout). */
  | "timeout"
  /** TLS spoken to a port that does not (https:// or wss:// to a plain-HTTP server). */
  | "tls"
  /** HTTP 401/403: the token is wrong, expired, read-only or for another database. */
  | "auth"
  /** Another HTTP 4xx (404: no such database/namespace…): retrying cannot help. */
  | "client"
  /** HTTP 5xx: the server failed; retry. */
  | "server"
  /** The server rolled back the open transaction (lock held too long, stream expired). */
  | "rolled-back"
  /** Another writer holds the database. */
  | "busy"
  /** The database file cannot be opened, is not a database, or is read-only. */
  | "open"
  | "not-a-database"
  | "read-only"
  /** The local database file was deleted, moved or replaced while open (SQLITE_READONLY_DBMOVED). */
  | "moved"
  /** The statement itself failed (syntax, constraint, no such table, refused by the server…). */
  | "statement"
  /** Anything without a structured field we know: a bug, or a TS migration's own error. */
  | "unknown";

export interface Classified {
  class: ErrorClass;
  /** Whether the same request may succeed if sent again. */
  retryable: boolean;
  /** The libsql / Hrana code (SQLITE_CONSTRAINT, SQL_PARSE_ERROR, TRANSACTION_TIMEOUT…). */
  code?: string;
  /** The HTTP status, when the server answered with one. */
  status?: number;
  /** The errno-style name from the network layer (ECONNREFUSED, ERR_SSL_…, UND_ERR_…). */
  errno?: string;
}

const RETRYABLE: ReadonlySet<ErrorClass> = new Set(["transport", "timeout", "server", "busy"]);

interface Fields {
  codes: string[];
  rawCodes: number[];
  statuses: number[];
  names: string[];
}

/** The structured fields of an error and its causes (strings only: DOMException.code is a number). */
function fieldsOf(e: unknown): Fields {
  const f: Fields = { codes: [], rawCodes: [], statuses: [], names: [] };
  let cur: unknown = e;
  for (let depth = 0; cur !== null && typeof cur === "object" && depth < 8; depth++) {
    const x = cur as { code?: unknown; rawCode?: unknown; extendedCode?: unknown; status?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (typeof x.code === "string") f.codes.push(x.code);
    if (typeof x.extendedCode === "string") f.codes.push(x.extendedCode);
    if (typeof x.rawCode === "number") f.rawCodes.push(x.rawCode);
    if (typeof x.status === "number") f.statuses.push(x.status);
    if (typeof x.name === "string") f.names.push(x.name);
    // AggregateError (happy eyeballs: one error per address) carries errno codes in `errors`.
    if (Array.isArray(x.errors) && x.errors.length > 0 && x.cause === undefined) cur = x.errors[0];
    else cur = x.cause;
  }
  return f;
}

/** Network-level errno names (Node's net/dns/tls and undici). */
const NETWORK_ERRNO = /^(ECONN(REFUSED|RESET|ABORTED)|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EHOSTDOWN|ETIMEDOUT|EPIPE|ENOTCONN|ESOCKETTIMEDOUT|UND_ERR_[A-Z_]+)$/;
const TLS_ERRNO = /^(EPROTO|ERR_SSL_[A-Z0-9_]+|ERR_TLS_[A-Z0-9_]+|(UNABLE_TO|SELF_SIGNED|CERT|DEPTH_ZERO|HOSTNAME)_[A-Z0-9_]+)$/;
/** Hrana / libsql client codes that mean the connection, not the statement, failed. */
const TRANSPORT_CODES = new Set(["HRANA_WEBSOCKET_ERROR", "HRANA_CLOSED_ERROR", "HRANA_PROTO_ERROR", "PROTOCOL_VERSION_ERROR", "STREAM_CLOSED", "STREAM_NOT_FOUND"]);
/** The server ended the transaction on its own (sqld: lock held ~5 s while others wait, idle stream ~10 s). */
const ROLLED_BACK_CODES = new Set(["TRANSACTION_TIMEOUT", "STREAM_EXPIRED", "TRANSACTION_CLOSED"]);
/** SQLite primary result codes (rawCode & 0xff). */
const SQLITE = { BUSY: 5, LOCKED: 6, READONLY: 8, CANTOPEN: 14, NOTADB: 26 } as const;
/** Extended code: the file under an open connection was unlinked or renamed over. */
const SQLITE_READONLY_DBMOVED = 8 | (4 << 8);

export function classifyError(e: unknown): Classified {
  const c = classifyFields(fieldsOf(e));
  return { ...c, retryable: RETRYABLE.has(c.class) };
}

function classifyFields(f: Fields): Omit<Classified, "retryable"> {
  const code = f.codes.find((c) => /^(SQLITE_|SQL_|HRANA_|TRANSACTION_|STREAM_|SERVER_ERROR|PROTOCOL_)/.test(c));
  const errno = f.codes.find((c) => NETWORK_ERRNO.test(c) || TLS_ERRNO.test(c));
  const status = f.statuses.find((s) => s >= 100 && s < 600);
  const base = { ...(code ? { code } : {}), ...(errno ? { errno } : {}), ...(status !== undefined ? { status } : {}) };

  if (status === 401 || status === 403) return { class: "auth", ...base };
  // Hrana over WebSocket answers a bad token with an error code instead (AUTH_JWT_INVALID…).
  const authCode = f.codes.find((c) => /^AUTH_[A-Z_]+$/.test(c));
  if (authCode) return { class: "auth", ...base, code: authCode };
  if (status !== undefined && status >= 400 && status < 500) return { class: status === 408 || status === 429 ? "server" : "client", ...base };
  if (status !== undefined && status >= 500) return { class: "server", ...base };
  if (errno && TLS_ERRNO.test(errno)) return { class: "tls", ...base };
  if (errno) return { class: errno === "ETIMEDOUT" || errno === "UND_ERR_CONNECT_TIMEOUT" ? "timeout" : "transport", ...base };
  if (f.names.includes("TimeoutError")) return { class: "timeout", ...base };
  if (f.names.includes("AbortError")) return { class: "timeout", ...base };
  if (code && ROLLED_BACK_CODES.has(code)) return { class: "rolled-back", ...base };
  if (code && TRANSPORT_CODES.has(code)) return { class: "transport", ...base };
  if (code === "SERVER_ERROR") return { class: "server", ...base };

  const primary = f.rawCodes.map((r) => r & 0xff)[0];
  if (primary === SQLITE.BUSY || primary === SQLITE.LOCKED || code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") return { class: "busy", ...base };
  if (primary === SQLITE.NOTADB || code === "SQLITE_NOTADB") return { class: "not-a-database", ...base };
  if (primary === SQLITE.CANTOPEN || code === "SQLITE_CANTOPEN") return { class: "open", ...base };
  if (f.rawCodes.includes(SQLITE_READONLY_DBMOVED)) return { class: "moved", ...base };
  if (primary === SQLITE.READONLY || code === "SQLITE_READONLY") return { class: "read-only", ...base };
  if (code && /^(SQLITE_|SQL_)/.test(code)) return { class: "statement", ...base };
  if (code === "URL_INVALID" || f.codes.includes("URL_INVALID") || f.codes.includes("URL_SCHEME_NOT_SUPPORTED")) return { class: "open", ...base };
  return { class: "unknown", ...base };
}

/** Whether sending the same request again may succeed (the request or its answer was lost). */
export function isTransportError(e: unknown): boolean {
  const c = classifyError(e).class;
  return c === "transport" || c === "timeout" || c === "server";
}

export function isAuthError(e: unknown): boolean {
  return classifyError(e).class === "auth";
}

/** A constraint failure (UNIQUE, CHECK, PRIMARY KEY…) of the statement itself. */
export function isConstraintError(e: unknown): boolean {
  const f = fieldsOf(e);
  return f.rawCodes.some((r) => (r & 0xff) === 19) || f.codes.some((c) => c.startsWith("SQLITE_CONSTRAINT"));
}

/** SQLite's message without the "SQLITE_ERROR: " prefixes @libsql/client and sqld add. */
export function sqliteMessage(e: unknown): string {
  const m = messageOf(e);
  return redactSecrets(m.replace(/^(?:(?:SQLITE_[A-Z_]+|SQL_[A-Z_]+|TRANSACTION_[A-Z_]+): )+/, "").replace(/^SQLite error: /, ""));
}

export const AUTH_HINT = "check DATABASE_AUTH_TOKEN / the token's database and expiry";

/** Wraps any database error as a StrataError with one line saying what, where, and what to do. */
export function describeDbError(e: unknown, displayUrl: string): StrataError {
  if (e instanceof StrataError) return e;
  const c = classifyError(e);
  const details = { errorClass: c.class, ...(c.code ? { code: c.code } : {}), ...(c.status !== undefined ? { status: c.status } : {}), ...(c.errno ? { errno: c.errno } : {}) };
  const make = (kind: ConstructorParameters<typeof StrataError>[0], message: string, hint?: string) =>
    new StrataError(kind, message, { ...(hint ? { hint } : {}), cause: e, details });
  switch (c.class) {
    case "auth":
      return make("unreachable", `authentication failed (${c.status !== undefined ? `HTTP ${c.status}` : c.code}) for ${displayUrl}`, AUTH_HINT);
    case "client":
      return make("unreachable", `${displayUrl} refused the request (HTTP ${c.status}): ${firstLine(sqliteMessage(e))}`, "check the URL: the database (namespace) may not exist");
    case "tls":
      return make("unreachable", `TLS handshake with ${displayUrl} failed (${c.errno})`, "a plain-HTTP server (sqld without TLS)? use http:// or ws://, or add ?tls=0 to a libsql:// URL");
    case "timeout":
      return make("unreachable", `${displayUrl} did not answer in time`, "check the network and the server; `strata wait` waits until it answers");
    case "transport":
    case "server": {
      if (c.errno === "ENOTFOUND" || c.errno === "EAI_AGAIN") return make("unreachable", `cannot resolve host of ${displayUrl}`, "check the hostname in the URL and DNS on this machine");
      if (c.errno === "ECONNREFUSED") return make("unreachable", `connection refused by ${displayUrl}`, "check that the server is running and the port is right");
      const what = c.status !== undefined ? `HTTP ${c.status}` : (c.errno ?? c.code ?? "connection failed");
      return make("unreachable", `cannot reach ${displayUrl} (${what}): ${firstLine(sqliteMessage(e))}`, "check the network and the server; `strata wait` waits until it answers");
    }
    case "rolled-back":
      return make("failure", `${displayUrl} rolled the transaction back (${c.code})`, "the server ends a transaction that holds the write lock ~5 s while another writer waits, or idles ~10 s; see README \"Long migrations\"");
    case "not-a-database":
      return make("unreachable", `${displayUrl} is not an SQLite database`, "check --url: the file exists but is not an SQLite database");
    case "open":
      return make("unreachable", `cannot open ${displayUrl}: ${firstLine(sqliteMessage(e))}`, "check the path and permissions");
    case "moved":
      return make(
        "unreachable",
        `the database file of ${displayUrl} was deleted, moved or replaced while strata was running; SQLite refused to write to the old one`,
        "something else touched the file during the run (a restore, a deploy script, a cleanup job?); check what is at that path now with `strata status` before running again",
      );
    case "read-only":
      return make("failure", `${displayUrl} is read-only: ${sqliteMessage(e)}`, "check file and directory permissions (SQLite also writes a journal next to the file)");
    case "busy":
      return new StrataError("lock", `${displayUrl} is locked by another process: ${sqliteMessage(e)}`, {
        hint: "another process holds a write lock; retry later or raise --lock-timeout",
        cause: e,
        details,
      });
    default:
      return make("failure", `${firstLine(sqliteMessage(e))} (${displayUrl})`);
  }
}
