/**
 * The one connection abstraction: a local SQLite file or a remote libSQL server, both through
 * @libsql/client. The engine only sees `Database`; nothing else in strata creates clients.
 */
import fs from "node:fs";
import path from "node:path";
import { createClient, type Client, type Config, type Transaction } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { isRemoteUrl } from "../config/settings.ts";
import { redactUrl, registerUrlSecrets } from "../output/redact.ts";
import { classifyError, describeDbError } from "./errors.ts";
import { resolveLocalhostSubdomains } from "./localhost.ts";
import { localPathOf } from "./local-path.ts";

export interface Database {
  readonly client: Client;
  /** The URL, redacted: safe to print. */
  readonly displayUrl: string;
  readonly remote: boolean;
  /** Absolute path of a local database file. */
  readonly localPath: string | undefined;
  /** False when a local file did not exist and a read-only command looked at an empty stand-in. */
  readonly exists: boolean;
  /**
   * Runs `fn` with every request it makes ending by `deadline` (ms since the epoch) at the
   * latest, whatever the per-request timeout: retry loops use it to keep their total bounded.
   */
  withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T>;
  /**
   * A WebSocket that fails to open says nothing structured (close code 1006) about why: a bad
   * token, TLS to a plain port and a dead server look alike. This asks the same server once
   * over HTTP and returns that error when it is more specific (auth, TLS, HTTP 4xx), else `e`.
   */
  diagnose(e: unknown): Promise<unknown>;
  close(): void;
}

export interface OpenOptions {
  authToken?: string | undefined;
  /** Create a missing local file (commands that write). Read-only commands never create one. */
  create: boolean;
  /** How long a local connection waits for another writer before "database is locked". */
  busyTimeoutMs?: number;
  /** Remote: how long one HTTP request may take before it counts as lost (default 30 s). */
  requestTimeoutMs?: number;
}

export { localPathOf };

export async function openDatabase(url: string, options: OpenOptions): Promise<Database> {
  const displayUrl = redactUrl(url);
  const remote = isRemoteUrl(url);
  if (url === ":memory:") return wrap(createDbClient(":memory:"), displayUrl, false, undefined, true, undefined);

  const localPath = localPathOf(url);
  if (localPath !== undefined) {
    const exists = checkLocalPath(localPath, options.create);
    if (!exists && !options.create) {
      // A read-only command on a database that does not exist yet: answer as for an empty one
      // instead of creating a file behind the user's back.
      return wrap(createDbClient(":memory:"), displayUrl, false, localPath, false, undefined);
    }
  }

  const timing: RequestTiming = { deadline: undefined };
  const client = createDbClient(url, { authToken: options.authToken, busyTimeoutMs: options.busyTimeoutMs, requestTimeoutMs: options.requestTimeoutMs, timing });
  return wrap(client, displayUrl, remote, localPath, true, timing, (e) => diagnoseOverHttp(url, options.authToken, e));
}

const DIAGNOSE_MS = 2000;

async function diagnoseOverHttp(url: string, authToken: string | undefined, e: unknown): Promise<unknown> {
  const c = classifyError(e);
  // sqld refuses a token over ws either with AUTH_JWT_… or by closing the socket (1006),
  // whichever comes first: ask over HTTP in both cases, so the error says the same (HTTP 401).
  const authWithoutStatus = c.class === "auth" && c.status === undefined;
  if (!/^wss?:/i.test(url) || (c.code !== "HRANA_WEBSOCKET_ERROR" && !authWithoutStatus)) return e;
  const base = new URL(url.replace(/^ws/i, "http"));
  const tls = base.searchParams.get("tls");
  if (tls === "0") base.protocol = "http:";
  const headers: Record<string, string> = { "content-type": "application/json" };
  const token = authToken ?? base.searchParams.get("authToken") ?? undefined;
  if (token) headers.authorization = `Bearer ${token}`;
  base.search = "";
  base.pathname = base.pathname.replace(/\/$/, "") + "/v2/pipeline";
  try {
    const res = await fetch(base, { method: "POST", headers, body: JSON.stringify({ baton: null, requests: [] }), signal: AbortSignal.timeout(DIAGNOSE_MS) });
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403 || (res.status >= 400 && res.status < 500 && res.status !== 404)) {
      return Object.assign(new Error(`the server answered HTTP ${res.status} (probed over HTTP after the WebSocket failed)`), { status: res.status, cause: e });
    }
    return e;
  } catch (probe) {
    return classifyError(probe).class === "tls" ? probe : e;
  }
}

/** Shared between a client's transport and its Database: the current deadline for requests. */
export interface RequestTiming {
  deadline: number | undefined;
}

/** Default time one remote request may take before it counts as lost. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface ClientOptions {
  authToken?: string | undefined;
  busyTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  /** "bigint" keeps INTEGER distinct from REAL and 64-bit values exact (logical dumps). */
  intMode?: "number" | "bigint";
  timing?: RequestTiming;
}

/**
 * The one place a @libsql/client is configured: local files get a busy timeout and a single
 * connection (pragmas hold for the run); remote URLs get a per-request timeout.
 */
export function createDbClient(url: string, options: ClientOptions = {}): Client {
  registerUrlSecrets(url); // every URL strata connects to: its password is a secret from now on
  const config: Config = { url, intMode: options.intMode ?? "number" };
  if (options.authToken) config.authToken = options.authToken;
  if (isRemoteUrl(url)) {
    resolveLocalhostSubdomains(url);
    // @libsql/client sets no timeout of its own: a hung server would hang strata for ever.
    const ms = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const timeout = () => Math.max(1, Math.min(ms, (options.timing?.deadline ?? Infinity) - Date.now()));
    if (/^wss?:/i.test(url)) {
      try {
        return timeBoxed(createClient(config), timeout);
      } catch (e) {
        throw describeDbError(e, redactUrl(url));
      }
    }
    config.fetch = (input: Request | string | URL, init?: RequestInit) => fetch(input, { ...init, signal: AbortSignal.timeout(timeout()) });
  } else {
    config.timeout = options.busyTimeoutMs ?? 5000;
    config.concurrency = 1;
  }
  try {
    return createClient(config);
  } catch (e) {
    const described = describeDbError(e, redactUrl(url));
    // A local client opens its file at once and says why only in text (errno 14, CANTOPEN):
    // whatever it throws here means the file could not be opened.
    if (!isRemoteUrl(url) && described.kind === "failure") {
      throw new StrataError("unreachable", `cannot open ${redactUrl(url)}: ${messageOf(e)}`, { hint: "check the path and permissions", cause: e });
    }
    throw described;
  }
}

function wrap(
  client: Client,
  displayUrl: string,
  remote: boolean,
  localPath: string | undefined,
  exists: boolean,
  timing: RequestTiming | undefined,
  diagnose: (e: unknown) => Promise<unknown> = async (e) => e,
): Database {
  return {
    diagnose,
    client,
    displayUrl,
    remote,
    localPath,
    exists,
    async withDeadline(deadline, fn) {
      if (!timing) return fn();
      const outer = timing.deadline;
      timing.deadline = Math.min(deadline, outer ?? Infinity);
      try {
        return await fn();
      } finally {
        timing.deadline = outer;
      }
    },
    close: () => client.close(),
  };
}

/** The error a timed-out request fails with, on every transport (fetch's AbortSignal.timeout gives the same name). */
function timeoutError(ms: number): Error {
  return new DOMException(`the request did not complete within ${ms} ms`, "TimeoutError");
}

function race<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timeoutError(ms)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * WebSocket clients have no fetch to put a timeout on: every call (and every call on a
 * transaction) races the request timeout instead.
 */
function timeBoxed(client: Client, timeout: () => number): Client {
  const box = <F extends (...args: never[]) => Promise<unknown>>(target: object, fn: F): F =>
    ((...args: Parameters<F>) => race(fn.apply(target, args), timeout())) as F;
  const boxTx = (tx: Transaction): Transaction =>
    new Proxy(tx, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v === "function" && ["execute", "batch", "executeMultiple", "commit", "rollback"].includes(String(prop))) return box(target, v);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  return new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "transaction") return (...args: Parameters<Client["transaction"]>) => race(target.transaction(...args), timeout()).then(boxTx);
      if (typeof v === "function" && ["execute", "batch", "migrate", "executeMultiple", "sync"].includes(String(prop))) return box(target, v);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** Clear errors for local paths before SQLite gives its terse "unable to open database file". */
function checkLocalPath(file: string, create: boolean): boolean {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new StrataError("unreachable", `cannot access database file ${file}: ${(e as NodeJS.ErrnoException).code}`, {
        hint: "check the path and its permissions",
      });
    }
  }
  if (stat?.isDirectory()) {
    throw new StrataError("usage", `database path ${file} is a directory`, { hint: "point --url at a database file" });
  }
  if (stat) return true;
  if (!create) return false;
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) {
    throw new StrataError("unreachable", `cannot create database ${file}: directory ${dir} does not exist`, {
      hint: "create the directory first or fix --url",
    });
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new StrataError("unreachable", `cannot create database ${file}: directory ${dir} is not writable`, {
      hint: "run as a user that can write there, or choose another path",
    });
  }
  return false;
}
