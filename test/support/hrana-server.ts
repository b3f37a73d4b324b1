/**
 * An in-process Hrana-over-HTTP server for tests and benchmarks (never shipped).
 *
 * Implements the JSON flavour of Hrana over HTTP (docs/HRANA_3_SPEC.md in tursodatabase/libsql)
 * on top of the `libsql` npm package, serving one database file. @libsql/client's HTTP client
 * speaks protocol version 2 by default (POST /v2/pipeline, no version probe), so /v2/pipeline and
 * /v3/pipeline share one handler; v3 additionally allows `get_autocommit` and the `is_autocommit`
 * batch condition. Protobuf endpoints and cursors (/v3/cursor) are not implemented (404).
 *
 * Only for what the real sqld cannot do on demand; everything else is tested on sqld itself
 * (test/support/sqld.ts, with test/support/counting-proxy.ts for counts and faults). So that no
 * test passes here with code that fails on sqld, it behaves like sqld 0.24.32 where that matters
 * (compared side by side in hrana-server.test.ts): statements sqld refuses (temporary objects,
 * ATTACH, VACUUM, ANALYZE, PRAGMA optimize — see sqld-rules.ts) and syntax errors fail with
 * SQL_PARSE_ERROR, a whole sequence is checked before any of it runs, connections start with
 * foreign keys on, plain SQLite errors are SQLITE_UNKNOWN, idle streams expire after 10 s, and a
 * transaction holding the write lock 5 s while another writer waits is rolled back
 * (TRANSACTION_TIMEOUT on its next statement).
 *
 * Each Hrana stream is its own libsql connection to the file, so a transaction can span
 * requests. Knobs for fault injection (latency, failed and dropped requests) and request
 * counters are mutable at runtime.
 *
 * Standalone: `node --import tsx test/support/hrana-server.ts --db PATH [--port N] [--token T]
 * [--latency-ms N]` prints `{"url":"http://127.0.0.1:PORT"}` once listening and exits on
 * SIGTERM/SIGINT.
 */
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { realpathSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import Database from "libsql";
import { parseRefusal, sequenceRefusal } from "./sqld-rules.ts";

export interface HranaServerOptions {
  dbPath: string;
  authToken?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  latencyMs?: number;
  /** Idle streams are closed (rolling back) after this long; default 10 s. */
  streamIdleTimeoutMs?: number;
}

/** What `onRequest` receives once a request has been answered (or dropped). */
export interface HranaRequestInfo {
  method: string;
  path: string;
  /** The HTTP status sent, or null when the connection was destroyed on purpose (`dropNext`). */
  status: number | null;
  /** Types of the stream requests in a pipeline body, e.g. ["execute", "close"]; [] otherwise. */
  requests: string[];
}

export interface HranaServer {
  /** http://HOST:PORT */
  url: string;
  port: number;
  /** `requests`: every HTTP request; `pipelines`: POSTs to /v2/pipeline or /v3/pipeline. */
  stats: { requests: number; pipelines: number };
  resetStats(): void;
  /** Delay added before handling each request. */
  latencyMs: number;
  /** The next `n` pipeline requests are answered with `status` (default 500) without executing anything. */
  failNext(n: number, status?: number): void;
  /**
   * The next `n` pipeline requests get their connection destroyed without a response, either
   * before executing anything or after executing the whole pipeline (a lost response to a
   * committed write).
   */
  dropNext(n: number, when: "before" | "after"): void;
  /** Called after every request, for debugging and assertions. */
  onRequest: ((info: HranaRequestInfo) => void) | undefined;
  /** Closes all sockets, streams and connections; idempotent. */
  close(): Promise<void>;
}

/** Streams unused for this long are closed, rolling back any open transaction. */
const STREAM_IDLE_TIMEOUT_MS = 10_000;
/**
 * Like sqld: a transaction that has held the write lock this long while another writer waits is
 * rolled back, and its stream's next statement fails with TRANSACTION_TIMEOUT.
 */
const LOCK_HOLD_MS = 5_000;
/** How long a statement waits for a lock held by another stream before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = LOCK_HOLD_MS + 1_000;
const BUSY_RETRY_INTERVAL_MS = 5;

export async function startHranaServer(opts: HranaServerOptions): Promise<HranaServer> {
  const server = new HranaHttpServer(opts);
  await server.listen(opts.host ?? "127.0.0.1", opts.port ?? 0);
  return server;
}

// ---------------------------------------------------------------------------------------------
// Protocol structures (JSON encoding)

type SqlValue = null | bigint | number | string | Uint8Array;

type WireValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

interface WireError {
  message: string;
  code: string;
}

interface StmtResult {
  cols: { name: string | null; decltype: string | null }[];
  rows: WireValue[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
  query_duration_ms: number;
}

/** SQL text given inline or by an id stored earlier with `store_sql`. */
type SqlRef = { sql: string } | { sqlId: number };

interface Stmt {
  sql: SqlRef;
  args: SqlValue[];
  namedArgs: [string, SqlValue][];
  wantRows: boolean;
}

type BatchCond =
  | { type: "ok" | "error"; step: number }
  | { type: "not"; cond: BatchCond }
  | { type: "and" | "or"; conds: BatchCond[] }
  | { type: "is_autocommit" };

interface BatchStep {
  condition: BatchCond | undefined;
  stmt: Stmt;
}

type StreamRequest =
  | { type: "close" }
  | { type: "execute"; stmt: Stmt }
  | { type: "batch"; steps: BatchStep[] }
  | { type: "sequence"; sql: SqlRef }
  | { type: "describe"; sql: SqlRef }
  | { type: "store_sql"; sqlId: number; sql: string }
  | { type: "close_sql"; sqlId: number }
  | { type: "get_autocommit" };

type StreamResult = { type: "ok"; response: Record<string, unknown> & { type: string } } | { type: "error"; error: WireError };

/** A malformed request: answered with HTTP 400 and the stream is closed. */
class ProtocolError extends Error {}

/** A statement-level error with a Hrana error code (e.g. SQL_NO_STATEMENT), reported in the results. */
class HranaError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding and validation of the request body. Everything is validated before anything runs, so
// a malformed pipeline executes nothing.

type JsonObject = Record<string, unknown>;

function object(v: unknown, what: string): JsonObject {
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as JsonObject;
  throw new ProtocolError(`${what} must be an object`);
}

function array(v: unknown, what: string): unknown[] {
  if (Array.isArray(v)) return v;
  throw new ProtocolError(`${what} must be an array`);
}

function string(v: unknown, what: string): string {
  if (typeof v === "string") return v;
  throw new ProtocolError(`${what} must be a string`);
}

function int32(v: unknown, what: string): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return v;
  throw new ProtocolError(`${what} must be a 32-bit integer`);
}

function decodeValue(v: unknown): SqlValue {
  const o = object(v, "Value");
  switch (o.type) {
    case "null":
      return null;
    case "integer": {
      const s = string(o.value, "integer value");
      const n = /^-?\d+$/.test(s) ? BigInt(s) : undefined;
      if (n === undefined || BigInt.asIntN(64, n) !== n) throw new ProtocolError(`invalid 64-bit integer ${JSON.stringify(s)}`);
      return n;
    }
    case "float":
      if (typeof o.value !== "number") throw new ProtocolError("float value must be a number");
      return o.value;
    case "text":
      return string(o.value, "text value");
    case "blob":
      return Buffer.from(string(o.base64, "blob base64"), "base64");
    default:
      throw new ProtocolError(`unknown Value type ${JSON.stringify(o.type)}`);
  }
}

function decodeSqlRef(o: JsonObject, what: string): SqlRef {
  const hasSql = o.sql !== undefined && o.sql !== null;
  const hasId = o.sql_id !== undefined && o.sql_id !== null;
  if (hasSql === hasId) throw new ProtocolError(`${what}: exactly one of sql and sql_id must be given`);
  return hasSql ? { sql: string(o.sql, "sql") } : { sqlId: int32(o.sql_id, "sql_id") };
}

function decodeStmt(v: unknown): Stmt {
  const o = object(v, "Stmt");
  const args = o.args === undefined || o.args === null ? [] : array(o.args, "args").map(decodeValue);
  const named = o.named_args === undefined || o.named_args === null ? [] : array(o.named_args, "named_args");
  const namedArgs = named.map((a): [string, SqlValue] => {
    const arg = object(a, "NamedArg");
    return [string(arg.name, "NamedArg name"), decodeValue(arg.value)];
  });
  const wantRows = o.want_rows === undefined || o.want_rows === null ? true : o.want_rows;
  if (typeof wantRows !== "boolean") throw new ProtocolError("want_rows must be a boolean");
  return { sql: decodeSqlRef(o, "Stmt"), args, namedArgs, wantRows };
}

/** `stepIndex` is the index of the step owning the condition: it may only refer to earlier steps. */
function decodeCond(v: unknown, stepIndex: number, version: number): BatchCond {
  const o = object(v, "BatchCond");
  switch (o.type) {
    case "ok":
    case "error": {
      const step = o.step;
      if (typeof step !== "number" || !Number.isInteger(step) || step < 0 || step >= stepIndex) {
        throw new ProtocolError(`BatchCond refers to step ${String(step)}, which is not an earlier step`);
      }
      return { type: o.type, step };
    }
    case "not":
      return { type: "not", cond: decodeCond(o.cond, stepIndex, version) };
    case "and":
    case "or":
      return { type: o.type, conds: array(o.conds, "conds").map((c) => decodeCond(c, stepIndex, version)) };
    case "is_autocommit":
      if (version < 3) throw new ProtocolError("BatchCond is_autocommit requires Hrana 3 (/v3/pipeline)");
      return { type: "is_autocommit" };
    default:
      throw new ProtocolError(`unknown BatchCond type ${JSON.stringify(o.type)}`);
  }
}

function decodeRequest(v: unknown, version: number): StreamRequest {
  const o = object(v, "StreamRequest");
  switch (o.type) {
    case "close":
      return { type: "close" };
    case "execute":
      return { type: "execute", stmt: decodeStmt(o.stmt) };
    case "batch": {
      const steps = array(object(o.batch, "batch").steps, "batch steps").map((s, i): BatchStep => {
        const step = object(s, "BatchStep");
        const hasCond = step.condition !== undefined && step.condition !== null;
        return { condition: hasCond ? decodeCond(step.condition, i, version) : undefined, stmt: decodeStmt(step.stmt) };
      });
      return { type: "batch", steps };
    }
    case "sequence":
    case "describe":
      return { type: o.type, sql: decodeSqlRef(o, o.type) };
    case "store_sql":
      return { type: "store_sql", sqlId: int32(o.sql_id, "sql_id"), sql: string(o.sql, "sql") };
    case "close_sql":
      return { type: "close_sql", sqlId: int32(o.sql_id, "sql_id") };
    case "get_autocommit":
      if (version < 3) throw new ProtocolError("get_autocommit requires Hrana 3 (/v3/pipeline)");
      return { type: "get_autocommit" };
    default:
      throw new ProtocolError(`unknown StreamRequest type ${JSON.stringify(o.type)}`);
  }
}

function decodePipeline(body: unknown, version: number): { baton: string | null; requests: StreamRequest[] } {
  const o = object(body, "PipelineReqBody");
  const baton = o.baton === undefined || o.baton === null ? null : string(o.baton, "baton");
  return { baton, requests: array(o.requests, "requests").map((r) => decodeRequest(r, version)) };
}

/** Best-effort request types of a pipeline body, for `onRequest` (also for malformed bodies). */
function requestTypes(body: unknown): string[] {
  const requests = (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests)) return [];
  return requests.map((r) => String((r as { type?: unknown } | null)?.type));
}

// ---------------------------------------------------------------------------------------------
// Encoding

function encodeValue(v: unknown): WireValue {
  if (v === null) return { type: "null" };
  if (typeof v === "bigint") return { type: "integer", value: v.toString() };
  if (typeof v === "number") return { type: "float", value: v };
  if (typeof v === "string") return { type: "text", value: v };
  if (v instanceof Uint8Array) return { type: "blob", base64: Buffer.from(v).toString("base64") };
  throw new Error(`cannot encode a ${typeof v} returned by libsql`);
}

/**
 * Hrana error for a failed statement. SQLite errors carry the primary result code (what
 * @libsql/client's local driver reports as `code`, e.g. SQLITE_CONSTRAINT for
 * SQLITE_CONSTRAINT_UNIQUE) and sqld's "SQLite error: " message prefix.
 */
function toWireError(e: unknown): WireError {
  if (e instanceof HranaError) return { message: e.message, code: e.code };
  if (e instanceof Database.SqliteError) {
    // Running an SQL text without any statement makes libsql throw with whatever non-error result
    // code the connection last had (SQLITE_OK, SQLITE_DONE...).
    if (/^SQLITE_(?:OK|ROW|DONE)$/.test(e.code)) return { message: "SQL string does not contain any statement", code: "SQL_NO_STATEMENT" };
    // Primary codes are SQLITE_ plus one word; extended ones append _WORD (SQLITE_CONSTRAINT_UNIQUE).
    // sqld reports plain SQLITE_ERROR ("no such table", …) as SQLITE_UNKNOWN.
    const primary = /^SQLITE_[A-Z]+/.exec(e.code)?.[0] ?? "SQLITE_UNKNOWN";
    return { message: `SQLite error: ${e.message}`, code: primary === "SQLITE_ERROR" ? "SQLITE_UNKNOWN" : primary };
  }
  return { message: e instanceof Error ? e.message : String(e), code: "INTERNAL_ERROR" };
}

function isBusy(e: unknown): boolean {
  return e instanceof Database.SqliteError && e.code.startsWith("SQLITE_BUSY");
}

const COMMIT_RE = /^\s*(?:COMMIT|END)\b/i;
const EXPLAIN_RE = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*EXPLAIN\b/i;

// ---------------------------------------------------------------------------------------------
// Streams

/** One Hrana stream: its own libsql connection plus the SQL texts stored on it. */
class HranaStream {
  readonly db: Database.Database;
  readonly sqls = new Map<number, string>();
  closed = false;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #totalChanges: Database.Statement;
  readonly #counters: Database.Statement;
  /** Aborted when the server closes, to cut short busy-retry waits. */
  readonly #signal: AbortSignal;
  /** Rolls back other streams' transactions that held the write lock too long (sqld's rule). */
  readonly #preempt: (waiter: HranaStream) => void;
  /** Since when this stream's open transaction has written (holds the write lock). */
  writingSince: number | undefined;
  /** The server rolled this stream's transaction back: its next statement fails. */
  #timedOut = false;

  constructor(dbPath: string, signal: AbortSignal, preempt: (waiter: HranaStream) => void) {
    this.#signal = signal;
    this.#preempt = preempt;
    // No native busy timeout: it would block the event loop, and with it the very stream that
    // holds the lock. Busy statements are retried asynchronously instead (see #executeStmt).
    this.db = new Database(dbPath);
    this.db.defaultSafeIntegers(true);
    // sqld opens its connections with foreign key enforcement on.
    this.db.exec("PRAGMA foreign_keys = ON");
    this.#totalChanges = this.db.prepare("SELECT total_changes()").raw();
    this.#counters = this.db.prepare("SELECT changes(), total_changes(), last_insert_rowid()").raw();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    try {
      // libsql's close() only drops the Database's reference: the connection, and with it an open
      // transaction and its locks, lives on until every Statement created from it is garbage
      // collected. So the transaction must be ended explicitly.
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
    } finally {
      this.db.close();
    }
  }

  get isAutocommit(): boolean {
    return !this.db.inTransaction;
  }

  /** Rolls back this stream's transaction on the server's initiative. */
  timeOut(): void {
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
    this.writingSince = undefined;
    this.#timedOut = true;
  }

  #failIfTimedOut(): void {
    if (!this.#timedOut) return;
    this.#timedOut = false;
    throw new HranaError("TRANSACTION_TIMEOUT", "Transaction timed out");
  }

  /** Runs one stream request; statement failures throw and become error results. */
  async handle(req: StreamRequest): Promise<Record<string, unknown> & { type: string }> {
    switch (req.type) {
      case "close":
        this.close();
        return { type: "close" };
      case "execute":
        this.#failIfTimedOut();
        return { type: "execute", result: await this.#executeStmt(req.stmt) };
      case "batch":
        this.#failIfTimedOut();
        return { type: "batch", result: await this.#executeBatch(req.steps) };
      case "sequence": {
        this.#failIfTimedOut();
        // sqld parses the whole text first: a refused statement anywhere runs nothing.
        const sql = this.#resolveSql(req.sql);
        const refusal = sequenceRefusal(sql);
        if (refusal !== undefined) throw new HranaError("SQL_PARSE_ERROR", refusal);
        // exec() runs every statement of the text; rows are discarded. Not retried on SQLITE_BUSY:
        // statements before the busy one may already have committed.
        this.db.exec(sql);
        this.#trackWriteLock(true);
        return { type: "sequence" };
      }
      case "describe":
        return { type: "describe", result: this.#describe(this.#resolveSql(req.sql)) };
      case "store_sql":
        if (this.sqls.has(req.sqlId)) throw new ProtocolError(`SQL text id ${req.sqlId} is already in use`);
        this.sqls.set(req.sqlId, req.sql);
        return { type: "store_sql" };
      case "close_sql":
        this.sqls.delete(req.sqlId);
        return { type: "close_sql" };
      case "get_autocommit":
        return { type: "get_autocommit", is_autocommit: this.isAutocommit };
    }
  }

  #resolveSql(ref: SqlRef): string {
    if ("sql" in ref) return ref.sql;
    const sql = this.sqls.get(ref.sqlId);
    if (sql === undefined) throw new ProtocolError(`SQL text id ${ref.sqlId} was not stored`);
    return sql;
  }

  async #executeBatch(steps: BatchStep[]): Promise<{ step_results: (StmtResult | null)[]; step_errors: (WireError | null)[] }> {
    const stepResults: (StmtResult | null)[] = [];
    const stepErrors: (WireError | null)[] = [];
    const evaluate = (cond: BatchCond): boolean => {
      switch (cond.type) {
        case "ok":
          return stepResults[cond.step] !== null;
        case "error":
          return stepErrors[cond.step] !== null;
        case "not":
          return !evaluate(cond.cond);
        case "and":
          return cond.conds.every(evaluate);
        case "or":
          return cond.conds.some(evaluate);
        case "is_autocommit":
          return this.isAutocommit;
      }
    };
    for (const step of steps) {
      let result: StmtResult | null = null;
      let error: WireError | null = null;
      if (step.condition === undefined || evaluate(step.condition)) {
        try {
          result = await this.#executeStmt(step.stmt);
        } catch (e) {
          if (e instanceof ProtocolError) throw e;
          error = toWireError(e);
        }
      }
      stepResults.push(result);
      stepErrors.push(error);
    }
    return { step_results: stepResults, step_errors: stepErrors };
  }

  /**
   * Executes one statement. SQLITE_BUSY (a lock held by another stream or process) is retried
   * until BUSY_TIMEOUT_MS, yielding to the event loop in between so that other streams can finish
   * their transactions: that is how concurrent writers queue. A statement inside an open
   * transaction is not retried, except COMMIT: the transaction may hold a read lock that the
   * lock holder needs released to commit, the deadlock for which SQLite skips its busy handler.
   */
  async #executeStmt(stmt: Stmt): Promise<StmtResult> {
    const sql = this.#resolveSql(stmt.sql);
    if (stmt.args.length > 0 && stmt.namedArgs.length > 0) {
      throw new HranaError("ARGS_BOTH_POSITIONAL_AND_NAMED", "Specifying both positional and named arguments is not supported");
    }
    const refusal = parseRefusal(sql);
    if (refusal !== undefined) throw new HranaError("SQL_PARSE_ERROR", refusal);
    const prepared = this.db.prepare(sql);
    // libsql binds an object by parameter name without its prefix (`:a`, `@a` and `$a` all read key
    // "a"); Hrana names may carry the prefix.
    const params =
      stmt.namedArgs.length > 0 ? Object.fromEntries(stmt.namedArgs.map(([name, v]) => [name.replace(/^[:@$]/, ""), v])) : stmt.args;
    const retryBusy = this.isAutocommit || COMMIT_RE.test(sql);
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (;;) {
      try {
        return this.#run(prepared, params, stmt.wantRows);
      } catch (e) {
        if (!retryBusy || !isBusy(e) || Date.now() >= deadline) throw e;
      }
      this.#preempt(this);
      // Re-running the same prepared statement also resets it: after SQLITE_BUSY, libsql leaves it
      // active, and an active statement makes a later COMMIT on this connection fail.
      await delay(BUSY_RETRY_INTERVAL_MS, undefined, { signal: this.#signal });
    }
  }

  #run(prepared: Database.Statement, params: SqlValue[] | Record<string, SqlValue>, wantRows: boolean): StmtResult {
    const [before] = this.#totalChanges.all() as [[bigint]];
    const started = performance.now();
    let cols: StmtResult["cols"] = [];
    let rows: unknown[][] = [];
    if (prepared.reader) {
      cols = prepared.columns().map((c) => ({ name: c.name, decltype: c.type }));
      rows = prepared.raw().all(params) as unknown[][];
    } else {
      prepared.run(params);
    }
    const queryDurationMs = performance.now() - started;
    this.#trackWriteLock(!prepared.reader);
    const [[changes, total, lastInsertRowid]] = this.#counters.all() as [[bigint, bigint, bigint]];
    // changes() and last_insert_rowid() keep their values across later statements that write
    // nothing (SELECT, DDL): they belong to this statement only if it changed rows. sqld decides
    // by statement kind (INSERT/UPDATE/DELETE), which libsql does not expose; for statements that
    // write nothing both report 0 and null.
    const wrote = total !== before[0];
    return {
      cols,
      rows: wantRows ? rows.map((row) => row.map(encodeValue)) : [],
      affected_row_count: wrote ? Number(changes) : 0,
      last_insert_rowid: wrote ? lastInsertRowid.toString() : null,
      query_duration_ms: queryDurationMs,
    };
  }

  #trackWriteLock(wrote: boolean): void {
    if (this.isAutocommit) this.writingSince = undefined;
    else if (wrote) this.writingSince ??= Date.now();
  }

  /**
   * libsql does not expose parameter names or sqlite3_stmt_readonly(), so both are read from the
   * EXPLAIN listing: OP_Variable carries the parameter index (p1) and name (p4), and a statement
   * writes if it opens a write transaction or uses one of the opcodes SQLite itself counts as
   * writes.
   */
  #describe(sql: string): Record<string, unknown> {
    const prepared = this.db.prepare(sql);
    const explain = EXPLAIN_RE.exec(sql);
    // "EXPLAIN EXPLAIN ..." is not valid SQL: describe the explained statement instead.
    const program = this.db.prepare(`EXPLAIN ${explain === null ? sql : sql.slice(explain[0].length)}`).raw().all() as unknown[][];
    const params: { name: string | null }[] = [];
    let readonly = true;
    for (const [, opcode, p1, p2, , p4] of program) {
      if (opcode === "Variable") {
        const index = Number(p1);
        while (params.length < index) params.push({ name: null });
        params[index - 1] = { name: typeof p4 === "string" ? p4 : null };
      } else if ((opcode === "Transaction" && p2 !== 0n) || opcode === "Vacuum" || opcode === "JournalMode" || opcode === "Checkpoint") {
        readonly = false;
      }
    }
    return {
      params,
      cols: prepared.reader ? prepared.columns().map((c) => ({ name: c.name, decltype: c.type })) : [],
      is_explain: explain !== null,
      is_readonly: explain !== null || readonly,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP server

const PIPELINE_PATHS: Record<string, number> = { "/v2/pipeline": 2, "/v3/pipeline": 3 };
const VERSION_PATHS = new Set(["/v2", "/v3"]);

/** Thrown to answer with a specific HTTP status and JSON error body. */
class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

class HranaHttpServer implements HranaServer {
  url = "";
  port = 0;
  readonly stats = { requests: 0, pipelines: 0 };
  latencyMs: number;
  onRequest: ((info: HranaRequestInfo) => void) | undefined = undefined;

  readonly #dbPath: string;
  readonly #authToken: string | undefined;
  readonly #server: Server;
  /** Idle streams by their current baton; a stream in use by a request is in #streams only. */
  readonly #batons = new Map<string, HranaStream>();
  readonly #streams = new Set<HranaStream>();
  readonly #shutdown = new AbortController();
  #failNext = { count: 0, status: 500 };
  #dropNext: { count: number; when: "before" | "after" } = { count: 0, when: "before" };
  #closing: Promise<void> | undefined;

  readonly #streamIdleTimeoutMs: number;

  constructor(opts: HranaServerOptions) {
    this.#dbPath = opts.dbPath;
    this.#authToken = opts.authToken;
    this.latencyMs = opts.latencyMs ?? 0;
    this.#streamIdleTimeoutMs = opts.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.#server.address() as AddressInfo).port;
    this.url = `http://${host.includes(":") ? `[${host}]` : host}:${this.port}`;
  }

  resetStats(): void {
    this.stats.requests = 0;
    this.stats.pipelines = 0;
  }

  failNext(n: number, status = 500): void {
    this.#failNext = { count: n, status };
  }

  dropNext(n: number, when: "before" | "after"): void {
    this.#dropNext = { count: n, when };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#shutdown.abort();
      for (const stream of this.#streams) stream.close();
      this.#streams.clear();
      this.#batons.clear();
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await closed;
    })();
    return this.#closing;
  }

  get #isClosing(): boolean {
    return this.#closing !== undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const info: HranaRequestInfo = { method: req.method ?? "", path, status: null, requests: [] };
    this.stats.requests++;
    const version = req.method === "POST" ? PIPELINE_PATHS[path] : undefined;
    if (version !== undefined) this.stats.pipelines++;
    try {
      if (this.latencyMs > 0) await delay(this.latencyMs, undefined, { signal: this.#shutdown.signal });
      if (this.#authToken !== undefined && req.headers.authorization !== `Bearer ${this.#authToken}`) {
        this.#sendJson(res, info, 401, { error: "Unauthorized: `The JWT is invalid`" });
      } else if (version !== undefined) {
        await this.#handlePipeline(req, res, info, version);
      } else if (req.method === "GET" && (path === "/" || path === "/health" || VERSION_PATHS.has(path))) {
        this.#sendText(res, info, 200, path === "/health" ? "OK" : "Hrana over HTTP test server (JSON, versions 2 and 3)");
      } else {
        this.#sendText(res, info, 404, "Not found");
      }
    } catch (e) {
      if (this.#isClosing) {
        // In-flight requests die with the server, like with a real server going away.
        res.destroy();
      } else if (e instanceof HttpError) {
        this.#sendJson(res, info, e.status, { message: e.message, code: e.code });
      } else {
        this.#sendJson(res, info, 500, toWireError(e));
      }
    }
    this.onRequest?.(info);
  }

  async #handlePipeline(req: IncomingMessage, res: ServerResponse, info: HranaRequestInfo, version: number): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      body = undefined;
    }
    info.requests = requestTypes(body);

    if (this.#failNext.count > 0) {
      this.#failNext.count--;
      this.#sendText(res, info, this.#failNext.status, "Injected failure");
      return;
    }
    const drop = this.#dropNext.count > 0 ? this.#dropNext.when : undefined;
    if (drop !== undefined) this.#dropNext.count--;
    if (drop === "before") {
      res.destroy();
      return;
    }

    if (body === undefined) throw new HttpError(400, "PROTOCOL_ERROR", "The request body is not valid JSON");
    let pipeline: ReturnType<typeof decodePipeline>;
    try {
      pipeline = decodePipeline(body, version);
    } catch (e) {
      if (e instanceof ProtocolError) throw new HttpError(400, "PROTOCOL_ERROR", e.message);
      throw e;
    }
    const stream = this.#acquire(pipeline.baton);
    const results: StreamResult[] = [];
    try {
      for (const request of pipeline.requests) {
        if (stream.closed) {
          results.push({ type: "error", error: { message: "The stream has already been closed", code: "STREAM_CLOSED" } });
          continue;
        }
        try {
          results.push({ type: "ok", response: await stream.handle(request) });
        } catch (e) {
          if (e instanceof ProtocolError) throw e;
          results.push({ type: "error", error: toWireError(e) });
        }
      }
    } catch (e) {
      // The spec makes an HTTP error end the stream.
      this.#discard(stream);
      if (e instanceof ProtocolError) throw new HttpError(400, "PROTOCOL_ERROR", e.message);
      throw e;
    }
    const baton = this.#release(stream);
    if (drop === "after") {
      res.destroy();
      return;
    }
    this.#sendJson(res, info, 200, { baton, base_url: null, results });
  }

  /** Opens a new stream (baton null) or takes an idle one out of the baton map. */
  #acquire(baton: string | null): HranaStream {
    if (this.#isClosing) throw new Error("The server is closing");
    if (baton === null) {
      const stream = new HranaStream(this.#dbPath, this.#shutdown.signal, (waiter) => this.#preempt(waiter));
      this.#streams.add(stream);
      return stream;
    }
    const stream = this.#batons.get(baton);
    if (stream === undefined) {
      throw new HttpError(400, "STREAM_EXPIRED", "The baton is invalid, or its stream was closed or expired due to inactivity");
    }
    // Batons are single-use: a concurrent request with the same baton is rejected.
    this.#batons.delete(baton);
    clearTimeout(stream.idleTimer);
    return stream;
  }

  /** Parks a stream under a fresh baton, or returns null when the pipeline closed it. */
  #release(stream: HranaStream): string | null {
    if (stream.closed || this.#isClosing) {
      this.#discard(stream);
      return null;
    }
    const baton = randomBytes(24).toString("base64url");
    this.#batons.set(baton, stream);
    stream.idleTimer = setTimeout(() => {
      this.#batons.delete(baton);
      this.#discard(stream);
    }, this.#streamIdleTimeoutMs);
    // An idle stream must not keep the process alive.
    stream.idleTimer.unref();
    return baton;
  }

  #preempt(waiter: HranaStream): void {
    const now = Date.now();
    for (const stream of this.#streams) {
      if (stream !== waiter && stream.writingSince !== undefined && now - stream.writingSince >= LOCK_HOLD_MS) stream.timeOut();
    }
  }

  #discard(stream: HranaStream): void {
    stream.close();
    this.#streams.delete(stream);
  }

  #sendText(res: ServerResponse, info: HranaRequestInfo, status: number, text: string): void {
    info.status = status;
    res.writeHead(status, { "content-type": "text/plain" }).end(text);
  }

  /** The content type must be exactly "application/json" for @libsql/client to parse error bodies. */
  #sendJson(res: ServerResponse, info: HranaRequestInfo, status: number, body: unknown): void {
    info.status = status;
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }
}

// ---------------------------------------------------------------------------------------------
// Standalone process

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

function nonNegativeInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      db: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      "latency-ms": { type: "string" },
    },
  });
  if (values.db === undefined) throw new Error("usage: hrana-server.ts --db PATH [--port N] [--token T] [--latency-ms N]");
  const server = await startHranaServer({
    dbPath: values.db,
    port: nonNegativeInt(values.port, "--port"),
    authToken: values.token,
    latencyMs: nonNegativeInt(values["latency-ms"], "--latency-ms"),
  });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  // Once the server is closed nothing is left on the event loop, so the process exits with 0.
  const stop = (): void => void server.close();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (isMainModule()) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
