/**
 * Tests of the Hrana-over-HTTP test server (test/support/hrana-server.ts), driven mostly by the
 * real @libsql/client, plus raw protocol requests for what the client never sends; and the test
 * server side by side with the real sqld on what sqld refuses and how it answers.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { createClient, LibsqlError } from "@libsql/client";
import type { Client, Config } from "@libsql/client";
import { startHranaServer } from "./support/hrana-server.ts";
import { NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";
import type { HranaRequestInfo, HranaServer, HranaServerOptions } from "./support/hrana-server.ts";

function tempDbPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "strata-hrana-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "test.db");
}

async function serve(t: TestContext, opts: Partial<HranaServerOptions> = {}): Promise<HranaServer> {
  const server = await startHranaServer({ dbPath: tempDbPath(t), ...opts });
  t.after(() => server.close());
  return server;
}

function connect(t: TestContext, server: HranaServer, config: Partial<Config> = {}): Client {
  const client = createClient({ url: server.url, ...config });
  t.after(() => client.close());
  return client;
}

/** Records the pipeline requests the server sees, as "execute,close"-style strings. */
function recordPipelines(server: HranaServer): string[] {
  const log: string[] = [];
  server.onRequest = (info: HranaRequestInfo) => {
    if (info.path.endsWith("/pipeline")) log.push(info.requests.join(","));
  };
  return log;
}

async function count(client: Client, table: string): Promise<number> {
  const rs = await client.execute(`SELECT count(*) AS n FROM ${table}`);
  return Number(rs.rows[0]?.n);
}

function isLibsqlError(code: string, message?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof LibsqlError, `expected a LibsqlError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  };
}

// --- raw protocol helpers --------------------------------------------------------------------

type WireResult =
  | { type: "ok"; response: { type: string } & Record<string, unknown> }
  | { type: "error"; error: { message: string; code: string } };

interface PipelineResponse {
  status: number;
  contentType: string | null;
  baton: string | null;
  results: WireResult[];
  error?: { message: string; code: string };
}

async function post(server: HranaServer, version: 2 | 3, baton: string | null, requests: unknown[]): Promise<PipelineResponse> {
  const res = await fetch(`${server.url}/v${version}/pipeline`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ baton, requests }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  const contentType = res.headers.get("content-type");
  if (!res.ok) return { status: res.status, contentType, baton: null, results: [], error: body as PipelineResponse["error"] };
  return { status: res.status, contentType, baton: body.baton as string | null, results: body.results as WireResult[] };
}

function ok(result: WireResult | undefined): Record<string, unknown> {
  assert.ok(result?.type === "ok", `expected an ok result, got ${JSON.stringify(result)}`);
  return result.response;
}

function errorCode(result: WireResult | undefined): string {
  assert.ok(result?.type === "error", `expected an error result, got ${JSON.stringify(result)}`);
  return result.error.code;
}

const text = (value: string) => ({ type: "text", value });
const integer = (value: string) => ({ type: "integer", value });
const execute = (sql: string, extra: Record<string, unknown> = {}) => ({ type: "execute", stmt: { sql, ...extra } });

// --- through @libsql/client ------------------------------------------------------------------

test("execute: positional and named args, value types, result metadata, SQLite errors", async (t) => {
  const server = await serve(t);
  const client = connect(t, server, { intMode: "bigint" });
  await client.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, score REAL, data BLOB, big INTEGER)");

  const inserted = await client.execute({
    sql: "INSERT INTO t(name, score, data, big) VALUES (?, ?, ?, ?)",
    args: ["ann", 1.5, new Uint8Array([0, 1, 255]), 9223372036854775807n],
  });
  assert.equal(inserted.rowsAffected, 1);
  assert.equal(inserted.lastInsertRowid, 1n);

  // Named args with and without their prefix.
  await client.execute({
    sql: "INSERT INTO t(name, score, data, big) VALUES (:name, $score, @data, :big)",
    args: { ":name": "bob", score: 2, data: null, big: -5n },
  });

  const rs = await client.execute({ sql: "SELECT id, name, score, data, big FROM t WHERE score >= ? ORDER BY id", args: [0] });
  assert.deepEqual(rs.columns, ["id", "name", "score", "data", "big"]);
  assert.deepEqual(rs.columnTypes, ["INTEGER", "TEXT", "REAL", "BLOB", "INTEGER"]);
  assert.equal(rs.rowsAffected, 0);
  assert.equal(rs.lastInsertRowid, undefined);
  assert.equal(rs.rows.length, 2);
  const [ann, bob] = rs.rows;
  assert.deepEqual([ann?.id, ann?.name, ann?.score, ann?.big], [1n, "ann", 1.5, 9223372036854775807n]);
  assert.deepEqual([...new Uint8Array(ann?.data as ArrayBuffer)], [0, 1, 255]);
  assert.deepEqual([bob?.id, bob?.name, bob?.score, bob?.data, bob?.big], [2n, "bob", 2, null, -5n]);

  const updated = await client.execute("UPDATE t SET score = score + 1");
  assert.equal(updated.rowsAffected, 2);
  const returning = await client.execute({ sql: "INSERT INTO t(name) VALUES (?) RETURNING id", args: ["cy"] });
  assert.deepEqual(returning.rows.map((r) => r.id), [3n]);
  assert.equal(returning.rowsAffected, 1);

  await assert.rejects(
    client.execute({ sql: "INSERT INTO t(name) VALUES (?)", args: ["ann"] }),
    isLibsqlError("SQLITE_CONSTRAINT", /UNIQUE constraint failed: t\.name/),
  );
  await assert.rejects(client.execute("SELECT * FROM missing"), isLibsqlError("SQLITE_UNKNOWN", /no such table: missing/));
});

test("batch: one pipeline, one transaction; a failing statement rolls the whole batch back", async (t) => {
  const server = await serve(t);
  const client = connect(t, server);
  await client.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE)");

  const results = await client.batch(
    [{ sql: "INSERT INTO t(name) VALUES (?)", args: ["a"] }, "INSERT INTO t(name) VALUES ('b')", "SELECT count(*) AS n FROM t"],
    "write",
  );
  assert.equal(results.length, 3);
  assert.equal(results[0]?.rowsAffected, 1);
  assert.equal(results[2]?.rows[0]?.n, 2);

  await assert.rejects(
    client.batch(["INSERT INTO t(name) VALUES ('c')", "INSERT INTO t(name) VALUES ('a')"], "write"),
    isLibsqlError("SQLITE_CONSTRAINT", /UNIQUE constraint failed/),
  );
  assert.equal(await count(client, "t"), 2, "the successful first statement was rolled back");
});

test("interactive transaction spans requests: commit and rollback", async (t) => {
  const server = await serve(t);
  const client = connect(t, server);
  const other = connect(t, server);
  await client.execute("CREATE TABLE t(x)");
  const pipelines = recordPipelines(server);

  const tx = await client.transaction("write");
  await tx.execute("INSERT INTO t VALUES (1)");
  await tx.execute("INSERT INTO t VALUES (2)");
  assert.equal(Number((await tx.execute("SELECT count(*) AS n FROM t")).rows[0]?.n), 2, "the transaction sees its own writes");
  assert.equal(pipelines.length, 3, "one HTTP request per transaction call");
  assert.equal(await count(other, "t"), 0, "uncommitted rows are invisible to other streams");
  await tx.commit();
  assert.equal(await count(other, "t"), 2);

  const tx2 = await client.transaction("write");
  await tx2.execute("INSERT INTO t VALUES (3)");
  await tx2.rollback();
  assert.equal(await count(other, "t"), 2);
});

test("concurrent write transactions queue instead of failing with SQLITE_BUSY", async (t) => {
  const server = await serve(t);
  const first = connect(t, server);
  const second = connect(t, server);
  await first.execute("CREATE TABLE t(x)");

  const tx1 = await first.transaction("write");
  await tx1.execute("INSERT INTO t VALUES (1)");
  let secondDone = false;
  const secondTx = (async () => {
    const tx2 = await second.transaction("write");
    await tx2.execute("INSERT INTO t VALUES (2)");
    await tx2.commit();
    secondDone = true;
  })();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(secondDone, false, "the second writer waits for the first");
  await tx1.commit();
  await secondTx;
  assert.equal(await count(first, "t"), 2);
});

test("executeMultiple and migrate", async (t) => {
  const server = await serve(t);
  const client = connect(t, server);
  const pipelines = recordPipelines(server);

  await client.executeMultiple(`
    CREATE TABLE a(x);
    INSERT INTO a VALUES (1); -- a comment
    INSERT INTO a VALUES (2);
  `);
  assert.equal(await count(client, "a"), 2);
  await assert.rejects(client.executeMultiple("INSERT INTO a VALUES (3); INSERT INTO nope VALUES (1)"), isLibsqlError("SQLITE_UNKNOWN", /no such table: nope/));

  pipelines.length = 0;
  await client.migrate(["CREATE TABLE b(id INTEGER PRIMARY KEY, a_x REFERENCES a(x))", "INSERT INTO b(a_x) VALUES (1)"]);
  assert.deepEqual(pipelines, ["batch,close"]);
  assert.equal(await count(client, "b"), 1);
});

test("a libsql://host:port?tls=0 URL reaches the server over HTTP", async (t) => {
  const server = await serve(t);
  const client = createClient({ url: `libsql://127.0.0.1:${server.port}?tls=0` });
  t.after(() => client.close());
  assert.equal(client.protocol, "http");
  assert.equal((await client.execute("SELECT 41 + 1 AS v")).rows[0]?.v, 42);
});

test("bearer token auth: 401 without or with a wrong token", async (t) => {
  const server = await serve(t, { authToken: "s3cret" });
  const anonymous = connect(t, server);
  const wrong = connect(t, server, { authToken: "nope" });
  const right = connect(t, server, { authToken: "s3cret" });

  await assert.rejects(anonymous.execute("SELECT 1"), isLibsqlError("SERVER_ERROR", /HTTP status 401/));
  await assert.rejects(wrong.execute("SELECT 1"), isLibsqlError("SERVER_ERROR", /HTTP status 401/));
  assert.equal((await right.execute("SELECT 1 AS one")).rows[0]?.one, 1);

  assert.equal((await fetch(`${server.url}/health`)).status, 401);
  assert.equal((await fetch(`${server.url}/health`, { headers: { authorization: "Bearer s3cret" } })).status, 200);
});

test("latencyMs delays every request", async (t) => {
  const server = await serve(t, { latencyMs: 150 });
  const client = connect(t, server);
  let started = performance.now();
  await client.execute("SELECT 1");
  assert.ok(performance.now() - started >= 145, "initial latency applies");

  server.latencyMs = 300;
  started = performance.now();
  await client.execute("SELECT 1");
  assert.ok(performance.now() - started >= 295, "latency is mutable at runtime");
});

test("failNext answers HTTP errors without executing anything", async (t) => {
  const server = await serve(t);
  const client = connect(t, server);
  await client.execute("CREATE TABLE t(x)");

  server.failNext(1, 503);
  await assert.rejects(client.execute("INSERT INTO t VALUES (1)"), isLibsqlError("SERVER_ERROR", /HTTP status 503/));
  server.failNext(2);
  await assert.rejects(client.execute("INSERT INTO t VALUES (2)"), isLibsqlError("SERVER_ERROR", /HTTP status 500/));
  await assert.rejects(client.batch(["INSERT INTO t VALUES (3)"], "write"), isLibsqlError("SERVER_ERROR", /HTTP status 500/));
  assert.equal(await count(client, "t"), 0);
});

test("dropNext: the connection is destroyed before or after executing the pipeline", async (t) => {
  const server = await serve(t);
  const client = connect(t, server);
  await client.execute("CREATE TABLE t(x)");

  server.dropNext(1, "before");
  await assert.rejects(client.execute("INSERT INTO t VALUES (1)"), /fetch failed/);
  assert.equal(await count(client, "t"), 0, "nothing was executed");

  server.dropNext(1, "after");
  await assert.rejects(client.execute("INSERT INTO t VALUES (2)"), /fetch failed/);
  assert.equal(await count(client, "t"), 1, "the write was committed although the response was lost");
});

test("counters: one pipeline request per execute and per batch", async (t) => {
  const server = await serve(t);
  const client = connect(t, server);
  await client.execute("CREATE TABLE t(x)");
  const pipelines = recordPipelines(server);

  server.resetStats();
  await client.execute("INSERT INTO t VALUES (1)");
  assert.deepEqual(server.stats, { requests: 1, pipelines: 1 });
  assert.deepEqual(pipelines, ["execute,close"]);

  server.resetStats();
  await client.batch(["INSERT INTO t VALUES (2)", "INSERT INTO t VALUES (3)"], "write");
  assert.deepEqual(server.stats, { requests: 1, pipelines: 1 });

  server.resetStats();
  await fetch(`${server.url}/health`);
  assert.deepEqual(server.stats, { requests: 1, pipelines: 0 });
});

// --- raw protocol ----------------------------------------------------------------------------

test("protocol: endpoints", async (t) => {
  const server = await serve(t);
  for (const path of ["/v2", "/v3", "/health"]) assert.equal((await fetch(server.url + path)).status, 200, path);
  assert.equal((await fetch(`${server.url}/v3-protobuf`)).status, 404);
  assert.equal((await fetch(`${server.url}/v3-protobuf/pipeline`, { method: "POST", body: "" })).status, 404);
  assert.equal((await fetch(`${server.url}/v3/cursor`, { method: "POST", body: "{}" })).status, 404);
  const bad = await fetch(`${server.url}/v2/pipeline`, { method: "POST", body: "{not json" });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
});

test("protocol: batons rotate and carry a stream, its transaction and stored SQL across requests", async (t) => {
  const server = await serve(t);
  const first = await post(server, 3, null, [
    execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v)"),
    execute("BEGIN"),
    execute("INSERT INTO kv VALUES (?, ?)", { args: [text("a"), integer("9223372036854775807")] }),
    { type: "get_autocommit" },
    { type: "store_sql", sql_id: 7, sql: "SELECT v FROM kv WHERE k = :k" },
  ]);
  assert.equal(first.status, 200);
  assert.equal(typeof first.baton, "string");
  assert.equal(ok(first.results[3]).is_autocommit, false);

  const second = await post(server, 3, first.baton, [
    { type: "execute", stmt: { sql_id: 7, named_args: [{ name: "k", value: text("a") }] } },
    { type: "close_sql", sql_id: 7 },
  ]);
  assert.equal(second.status, 200);
  assert.notEqual(second.baton, first.baton, "the baton changes with every response");
  assert.deepEqual((ok(second.results[0]).result as { rows: unknown }).rows, [[integer("9223372036854775807")]]);

  const reused = await post(server, 3, first.baton, [{ type: "get_autocommit" }]);
  assert.equal(reused.status, 400);
  assert.equal(reused.contentType, "application/json");
  assert.equal(reused.error?.code, "STREAM_EXPIRED");

  const last = await post(server, 3, second.baton, [execute("ROLLBACK"), { type: "get_autocommit" }, { type: "close" }, execute("SELECT 1")]);
  assert.equal(ok(last.results[1]).is_autocommit, true);
  assert.equal(last.baton, null, "a closed stream gets no baton");
  assert.equal(errorCode(last.results[3]), "STREAM_CLOSED");
  assert.equal((await post(server, 3, second.baton, [])).status, 400);

  const check = await post(server, 2, null, [execute("SELECT count(*) FROM kv"), { type: "close" }]);
  assert.deepEqual((ok(check.results[0]).result as { rows: unknown }).rows, [[integer("0")]], "the transaction was rolled back");
});

test("protocol: batch conditions", async (t) => {
  const server = await serve(t);
  const step = (sql: string, condition?: unknown) => ({ condition, stmt: { sql } });
  const res = await post(server, 3, null, [
    {
      type: "batch",
      batch: {
        steps: [
          step("SELECT 0"),
          step("SELECT * FROM missing"),
          step("SELECT 2", { type: "ok", step: 1 }),
          step("SELECT 3", { type: "error", step: 1 }),
          step("SELECT 4", { type: "and", conds: [{ type: "ok", step: 0 }, { type: "not", cond: { type: "ok", step: 1 } }] }),
          step("SELECT 5", { type: "or", conds: [{ type: "ok", step: 2 }, { type: "error", step: 0 }] }),
          step("SELECT 6", { type: "is_autocommit" }),
        ],
      },
    },
    { type: "close" },
  ]);
  const result = ok(res.results[0]).result as { step_results: unknown[]; step_errors: ({ code: string } | null)[] };
  assert.deepEqual(
    result.step_results.map((r) => r !== null),
    [true, false, false, true, true, false, true],
  );
  assert.deepEqual(
    result.step_errors.map((e) => e?.code ?? null),
    [null, "SQLITE_UNKNOWN", null, null, null, null, null],
  );

  const forward = await post(server, 3, null, [{ type: "batch", batch: { steps: [step("SELECT 1", { type: "ok", step: 0 })] } }]);
  assert.equal(forward.status, 400, "a condition may only refer to an earlier step");
  const v2 = await post(server, 2, null, [{ type: "batch", batch: { steps: [step("SELECT 1", { type: "is_autocommit" })] } }]);
  assert.equal(v2.status, 400, "is_autocommit is Hrana 3 only");
  assert.equal((await post(server, 2, null, [{ type: "get_autocommit" }])).status, 400, "get_autocommit is Hrana 3 only");
});

test("protocol: sequence, describe and statement errors", async (t) => {
  const server = await serve(t);
  const res = await post(server, 3, null, [
    { type: "sequence", sql: "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t(name) VALUES ('a');" },
    { type: "describe", sql: "SELECT id, name AS n, ?3 AS p FROM t WHERE name = :name" },
    { type: "describe", sql: "INSERT INTO t(name) VALUES (?)" },
    { type: "describe", sql: "EXPLAIN SELECT 1" },
    execute(""),
    execute("SELECT ?, :a", { args: [integer("1")], named_args: [{ name: "a", value: { type: "null" } }] }),
    { type: "sequence", sql: "INSERT INTO t(name) VALUES ('b'); SELEC 1" },
    { type: "close" },
  ]);
  assert.deepEqual(ok(res.results[0]), { type: "sequence" });
  assert.deepEqual(ok(res.results[1]).result, {
    params: [{ name: null }, { name: null }, { name: "?3" }, { name: ":name" }],
    cols: [
      { name: "id", decltype: "INTEGER" },
      { name: "n", decltype: "TEXT" },
      { name: "p", decltype: null },
    ],
    is_explain: false,
    is_readonly: true,
  });
  assert.deepEqual(ok(res.results[2]).result, { params: [{ name: null }], cols: [], is_explain: false, is_readonly: false });
  assert.equal((ok(res.results[3]).result as { is_explain: boolean }).is_explain, true);
  assert.equal(errorCode(res.results[4]), "SQL_NO_STATEMENT");
  assert.equal(errorCode(res.results[5]), "ARGS_BOTH_POSITIONAL_AND_NAMED");
  assert.equal(errorCode(res.results[6]), "SQL_PARSE_ERROR", "the whole sequence is parsed first");
});

// --- side by side with sqld -------------------------------------------------------------------

let sqld: Sqld | undefined;
before(async () => {
  if (!NO_SQLD) sqld = await startSqld({ namespaces: true });
});
after(() => sqld?.stop());
const remote = (t: TestContext) => sqld!.freshDatabase(t).then((db) => ({ ...db, directUrl: db.url }));

/** The error code (or "ok") each statement gets, in order, on one connection. */
async function outcomes(client: Client, statements: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const sql of statements) {
    try {
      const rs = await client.execute(sql);
      out.push(rs.rows.length > 0 ? `ok ${JSON.stringify(rs.rows.map((r) => Array.from(r as unknown as ArrayLike<unknown>)))}` : "ok");
    } catch (e) {
      out.push((e as { code?: string }).code ?? String(e));
    }
  }
  return out;
}

const SQLD_PROBES = [
  "CREATE TABLE p (id INTEGER PRIMARY KEY, u UNIQUE)",
  "CREATE TABLE c (id INTEGER PRIMARY KEY, pid REFERENCES p (id))",
  "PRAGMA foreign_keys",
  "INSERT INTO p VALUES (1, 1)",
  "INSERT INTO p VALUES (2, 1)",
  "INSERT INTO c VALUES (1, 5)",
  "CREATE TEMP TABLE tt (x)",
  "create  temporary  table tt2 (x)",
  "/* lead */ CREATE TEMP VIEW tv AS SELECT 1",
  "CREATE TEMP TRIGGER tr AFTER INSERT ON p BEGIN SELECT 1; END",
  "CREATE TABLE temp.tx (a)",
  "ATTACH ':memory:' AS m",
  "VACUUM",
  "ANALYZE",
  "PRAGMA optimize",
  "SELEC 1",
  "SELECT * FROM nosuch",
  "COMMIT",
  "SELECT count(*) AS n FROM temp.sqlite_schema",
];

test("test server vs sqld: the same codes for refused statements, syntax and SQLite errors; foreign keys on", { skip: NO_SQLD }, async (t) => {
  const real = await remote(t);
  const fake = await serve(t, { authToken: "tok" });
  const onSqld = await outcomes(real.client, SQLD_PROBES);
  const onFake = await outcomes(connect(t, fake, { authToken: "tok" }), SQLD_PROBES);
  assert.deepEqual(onFake, onSqld);
  assert.deepEqual(onSqld.slice(6, 16), Array(10).fill("SQL_PARSE_ERROR"), "sqld refuses these before running them");
});

test("test server vs sqld: a refused statement anywhere in a sequence runs nothing; a failing one keeps what ran before", { skip: NO_SQLD }, async (t) => {
  const real = await remote(t);
  const fake = await serve(t);
  const fakeClient = connect(t, fake);
  const run = async (client: Client): Promise<string[]> => {
    const out: string[] = [];
    for (const sql of [
      "CREATE TABLE s1 (a); CREATE TRIGGER s1_t AFTER INSERT ON s1 BEGIN SELECT 1; SELECT 'x;y'; END; CREATE TEMP TABLE s2 (a);",
      "CREATE TABLE s3 (a); -- comment; with a semicolon\nSELEC 2;",
      "CREATE TABLE s4 (a); INSERT INTO nosuch VALUES (1);",
    ]) {
      await client.executeMultiple(sql).then(() => out.push("ok"), (e: { code?: string }) => out.push(e.code ?? "?"));
    }
    const rs = await client.execute("SELECT name FROM sqlite_schema WHERE name LIKE 's%' ORDER BY name");
    return [...out, rs.rows.map((r) => r.name).join(",")];
  };
  const onSqld = await run(real.client);
  assert.deepEqual(await run(fakeClient), onSqld);
  assert.deepEqual(onSqld, ["SQL_PARSE_ERROR", "SQL_PARSE_ERROR", "SQLITE_UNKNOWN", "s4"]);
});

test("test server vs sqld: a transaction holding the write lock ~5 s while another writes is rolled back (TRANSACTION_TIMEOUT)", { skip: NO_SQLD, timeout: 30_000 }, async (t) => {
  const real = await remote(t);
  const fake = await serve(t);
  const scenario = async (holder: Client, other: Client): Promise<string[]> => {
    await holder.execute("CREATE TABLE m (x)");
    const tx = await holder.transaction("write");
    await tx.execute("INSERT INTO m VALUES (1)");
    await new Promise((r) => setTimeout(r, 300));
    await other.execute("INSERT INTO m VALUES (2)"); // waits until sqld takes the lock away
    const out: string[] = [];
    await tx.execute("INSERT INTO m VALUES (3)").then(() => out.push("ok"), (e: { code?: string }) => out.push(e.code ?? "?"));
    await tx.commit().then(() => out.push("ok"), (e: { code?: string }) => out.push(e.code ?? "?"));
    tx.close();
    const rs = await other.execute("SELECT group_concat(x) AS xs FROM m");
    return [...out, String(rs.rows[0]!.xs)];
  };
  const otherReal = createClient({ url: real.directUrl, authToken: real.token });
  t.after(() => otherReal.close());
  const [onSqld, onFake] = await Promise.all([scenario(real.client, otherReal), scenario(connect(t, fake), connect(t, fake))]);
  assert.deepEqual(onFake, onSqld);
  assert.deepEqual(onSqld, ["TRANSACTION_TIMEOUT", "SQLITE_UNKNOWN", "2"]);
});

// --- standalone process ----------------------------------------------------------------------

test("runs as a standalone process and exits cleanly on SIGTERM", async (t) => {
  const serverPath = fileURLToPath(new URL("./support/hrana-server.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", serverPath, "--db", tempDbPath(t), "--token", "tok", "--latency-ms", "1"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const [line] = (await once(createInterface({ input: child.stdout }), "line")) as [string];
  const { url } = JSON.parse(line) as { url: string };
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const client = createClient({ url, authToken: "tok" });
  try {
    assert.equal((await client.execute("SELECT 'up' AS s")).rows[0]?.s, "up");
  } finally {
    client.close();
  }
  child.kill("SIGTERM");
  assert.deepEqual(await exited, [0, null]);
});
