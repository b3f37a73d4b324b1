/**
 * The one error classifier (src/db/errors.ts), fed real errors: captured here, live, from sqld
 * over http:// and ws://, from local SQLite files and from the network (refused, reset, DNS,
 * TLS to a plain port, timeout, 5xx), plus adversarial errors whose messages contain every
 * word a text matcher could be tempted by. Only structured fields may decide.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { createClient, LibsqlError, type Client } from "@libsql/client";
import { classifyError, type ErrorClass } from "../src/db/errors.ts";
import { createDbClient, openDatabase } from "../src/db/connection.ts";
import { freePort, NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";
import { startCountingProxy } from "./support/counting-proxy.ts";
import { tempDir } from "./support/cli.ts";
import { resolveLocalhostSubdomains } from "../src/db/localhost.ts";

let sqld: Sqld | undefined;
/** The test database: a namespace, so that another name is a real 404. */
let dbUrl = "";
before(async () => {
  if (NO_SQLD) return;
  sqld = await startSqld({ namespaces: true });
  dbUrl = await sqld.createNamespace("classify");
  resolveLocalhostSubdomains(dbUrl);
  resolveLocalhostSubdomains(sqld.namespaceUrl("nope"));
});
after(() => sqld?.stop());

async function errorOf(p: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

/** Every word the old message matcher looked for, and then some. */
const KEYWORDS = "network timeout timed out ECONNREFUSED ECONNRESET ENOTFOUND fetch failed socket hang up 401 403 Unauthorized forbidden AUTH SERVER_ERROR HTTP status 503 HRANA_WEBSOCKET_ERROR SQLITE_BUSY database is locked TRANSACTION_TIMEOUT";

function check(cases: [string, unknown, ErrorClass][]): void {
  for (const [label, e, expected] of cases) {
    assert.equal(classifyError(e).class, expected, `${label}: ${(e as Error)?.message ?? String(e)}`);
  }
}

for (const scheme of ["http", "ws"] as const) {
  test(`${scheme}: errors from sqld are classified by their codes`, { skip: NO_SQLD }, async (t) => {
    const url = dbUrl.replace(/^http/, scheme);
    const client = createClient({ url, authToken: sqld!.token });
    t.after(() => client.close());
    await client.execute("CREATE TABLE IF NOT EXISTS kw (id INTEGER PRIMARY KEY, timeout INTEGER)");
    const expired = sqld!.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
    const cases: [string, unknown, ErrorClass][] = [
      ["syntax error", await errorOf(client.execute("SELEC 1")), "statement"],
      ["no such table", await errorOf(client.execute("SELECT * FROM no_such_table")), "statement"],
      ["temp table refused", await errorOf(client.execute("CREATE TEMP TABLE x (a)")), "statement"],
      ["ATTACH refused", await errorOf(client.execute("ATTACH ':memory:' AS m")), "statement"],
      ["duplicate column named timeout", await errorOf(client.execute("ALTER TABLE kw ADD COLUMN timeout INTEGER")), "statement"],
      ["UNIQUE in a batch", await errorOf(client.batch(["INSERT INTO kw (id) VALUES (1)", "INSERT INTO kw (id) VALUES (1)"], "write")), "statement"],
      ["a message full of keywords, from the server", await errorOf(client.execute(`SELECT * FROM "${KEYWORDS}"`)), "statement"],
    ];
    const tokens: [string, unknown][] = [
      ["garbage token", await errorOf(() => withClient(url, "abc.def.ghi", (c) => c.execute("SELECT 1")))],
      ["expired token", await errorOf(() => withClient(url, expired, (c) => c.execute("SELECT 1")))],
      ["read-only token writing", await errorOf(() => withClient(url, sqld!.sign({ a: "ro" }), (c) => c.execute("INSERT INTO kw (id) VALUES (2)")))],
    ];
    if (scheme === "http") cases.push(...tokens.map(([label, e]) => [label, e, "auth"] as [string, unknown, ErrorClass]));
    check(cases);
    // Over ws, sqld either answers AUTH_JWT_… or just closes the socket (1006), whichever comes
    // first: a 1006 says nothing structured, so it is transport — Database.diagnose then asks
    // over HTTP (next test). Never anything else.
    for (const [label, e] of scheme === "ws" ? tokens : []) assert.ok(["auth", "transport"].includes(classifyError(e).class), `${label}: ${classifyError(e).class}`);
  });
}

test("sqld: a transaction holding the write lock while another writer waits is rolled back (TRANSACTION_TIMEOUT)", { skip: NO_SQLD }, async (t) => {
  const a = createClient({ url: dbUrl, authToken: sqld!.token });
  const b = createClient({ url: dbUrl, authToken: sqld!.token });
  t.after(() => (a.close(), b.close()));
  await a.execute("CREATE TABLE IF NOT EXISTS held (x)");
  const tx = await a.transaction("write");
  await tx.execute("INSERT INTO held VALUES (1)");
  await b.execute("INSERT INTO held VALUES (2)"); // sqld takes the lock from tx after ~5 s
  const e = await errorOf(tx.execute("INSERT INTO held VALUES (3)"));
  tx.close();
  check([["server-side rollback", e, "rolled-back"]]);
});

test("ws: a refused token is diagnosed over HTTP as authentication; TLS to a plain port as TLS", { skip: NO_SQLD }, async (t) => {
  const expired = sqld!.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
  // sqld answers either AUTH_JWT_EXPIRED or a bare close (1006), whichever wins a race on its
  // side (about 1 in 3 is the code): several tries so both answers go through diagnose.
  for (let i = 0; i < 8; i++) {
    const ws = await openDatabase(dbUrl.replace(/^http/, "ws"), { authToken: expired, create: false });
    t.after(() => ws.close());
    const raw = await errorOf(ws.client.execute("SELECT 1"));
    const diagnosed = await ws.diagnose(raw);
    const label = `try ${i}: ${classifyError(raw).code}`;
    assert.equal(classifyError(diagnosed).class, "auth", label);
    assert.equal(classifyError(diagnosed).status, 401, label);
  }

  const wss = await openDatabase(dbUrl.replace(/^http/, "wss"), { authToken: sqld!.token, create: false });
  t.after(() => wss.close());
  const tlsRaw = await errorOf(wss.client.execute("SELECT 1"));
  assert.equal(classifyError(await wss.diagnose(tlsRaw)).class, "tls");
});

test("network failures: refused, reset, DNS, TLS to a plain port, timeout, 5xx, 404", { skip: NO_SQLD }, async (t) => {
  const closedPort = await freePort();
  // A server that accepts and resets every connection, and one that accepts and never answers.
  const resetter = net.createServer((s) => s.resetAndDestroy());
  const silent = net.createServer(() => undefined);
  const listening: net.Server[] = [];
  for (const srv of [resetter, silent]) {
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    listening.push(srv);
  }
  t.after(() => {
    for (const srv of listening) srv.close();
    silent.unref();
  });
  const portOf = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
  const proxy = await startCountingProxy(dbUrl);
  t.after(() => proxy.close());
  proxy.failNext(1, 503);
  const run = (url: string, options: { requestTimeoutMs?: number; authToken?: string } = {}) =>
    errorOf(async () => {
      const c = createDbClient(url, { authToken: options.authToken ?? sqld!.token, requestTimeoutMs: options.requestTimeoutMs });
      try {
        await c.execute("SELECT 1");
      } finally {
        c.close();
      }
    });
  const cases: [string, unknown, ErrorClass][] = [
    ["refused (http)", await run(`http://127.0.0.1:${closedPort}`), "transport"],
    ["refused (ws)", await run(`ws://127.0.0.1:${closedPort}`), "transport"],
    ["reset (http)", await run(`http://127.0.0.1:${portOf(resetter)}`), "transport"],
    ["DNS", await run("http://no-such-host.invalid:8080"), "transport"],
    ["https to plain HTTP", await run(dbUrl.replace(/^http/, "https")), "tls"],
    ["libsql:// (TLS) to plain HTTP", await run(dbUrl.replace(/^http/, "libsql")), "tls"],
    ["request timeout (http)", await run(`http://127.0.0.1:${portOf(silent)}`, { requestTimeoutMs: 300 }), "timeout"],
    ["request timeout (ws)", await run(`ws://127.0.0.1:${portOf(silent)}`, { requestTimeoutMs: 300 }), "timeout"],
    ["HTTP 503", await run(proxy.url), "server"],
    ["no such namespace (HTTP 404)", await run(sqld!.namespaceUrl("nope")), "client"],
  ];
  check(cases);
  assert.equal(classifyError(cases[0]![1]).errno, "ECONNREFUSED");
  assert.equal(classifyError(cases[3]![1]).errno, "ENOTFOUND");
});

test("local files: statement, busy, not a database, read-only", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "a.db");
  const a = createClient({ url: `file:${file}` });
  const b = createClient({ url: `file:${file}`, timeout: 50 } as Parameters<typeof createClient>[0]);
  t.after(() => (a.close(), b.close()));
  await a.execute("CREATE TABLE t (x UNIQUE)");
  const tx = await a.transaction("write");
  await tx.execute("INSERT INTO t VALUES (1)");
  const busy = await errorOf(b.execute("INSERT INTO t VALUES (2)"));
  await tx.rollback();
  tx.close();
  const fs = await import("node:fs");
  const junk = path.join(dir, "junk.db");
  fs.writeFileSync(junk, "this is not a database, it only mentions a timeout and a network".repeat(20));
  const notDb = createClient({ url: `file:${junk}` });
  t.after(() => notDb.close());
  check([
    ["syntax", await errorOf(a.execute("SELEC 1")), "statement"],
    ["constraint", await errorOf(a.batch(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"], "write")), "statement"],
    ["keywords in a local message", await errorOf(a.execute(`SELECT * FROM "${KEYWORDS}"`)), "statement"],
    ["busy", busy, "busy"],
    ["not a database", await errorOf(notDb.execute("SELECT * FROM sqlite_schema")), "not-a-database"],
  ]);
});

test("adversarial errors: the message never decides", () => {
  const fake = (props: Record<string, unknown>) => Object.assign(new Error(KEYWORDS), props);
  check([
    ["a TS migration's own Error", new Error(KEYWORDS), "unknown"],
    ["a TypeError with keywords", new TypeError(`fetch failed: ${KEYWORDS}`), "unknown"],
    ["a string thrown", KEYWORDS, "unknown"],
    ["a LibsqlError for a statement, message full of keywords", new LibsqlError(KEYWORDS, "SQLITE_UNKNOWN"), "statement"],
    ["a constraint error naming a guard", new LibsqlError("CHECK constraint failed: version row changed concurrently network timeout", "SQLITE_CONSTRAINT", "SQLITE_CONSTRAINT_CHECK", 275), "statement"],
    ["a parse error echoing SQL with keywords", new LibsqlError(`SQL string could not be parsed: ${KEYWORDS}`, "SQL_PARSE_ERROR"), "statement"],
    ["a numeric DOMException-like code is ignored", fake({ code: 23 }), "unknown"],
    // What the structure says wins over what the message says.
    ["HTTP 401 with a calm message", fake({ status: 401, message: "ok" }), "auth"],
    ["errno in a cause chain", new Error("all fine", { cause: fake({ code: "ECONNRESET" }) }), "transport"],
  ]);
});

async function withClient<T>(url: string, token: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = createClient({ url, authToken: token });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
