/**
 * Every command against a remote libSQL server over HTTP (the Hrana test server, or a real one:
 * see test/support/remote.ts), with the number of round trips asserted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { down, redo, up } from "../src/commands/migrate.ts";
import { current, history, status } from "../src/commands/inspect.ts";
import { stamp } from "../src/commands/record.ts";
import { StrataError } from "../src/errors.ts";
import { copyCalendar, json, strata, tempDir, userSchema, writeFiles } from "./support/cli.ts";
import { NEEDS_TEST_SERVER, remote, TEST_TOKEN } from "./support/remote.ts";
import { startHranaServer } from "./support/hrana-server.ts";

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const net = await import("node:net");
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function sqlMigrations(n: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    const v = String(i).padStart(3, "0");
    files[`${v}_t${i}.up.sql`] = `CREATE TABLE t${i} (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX ix_t${i}_v ON t${i} (v);\nINSERT INTO t${i} (v) VALUES ('a'), ('b');\n`;
    files[`${v}_t${i}.down.sql`] = `DROP TABLE t${i};\n`;
  }
  return files;
}

function folder(t: Parameters<typeof tempDir>[0], files: Record<string, string>): string {
  const dir = path.join(tempDir(t), "migrations");
  writeFiles(dir, files);
  return dir;
}

test("round trips: status and current take one; up of N SQL migrations at most N + 2", { skip: NEEDS_TEST_SERVER }, async (t) => {
  const r = await remote(t);
  const dir = folder(t, sqlMigrations(5));
  const opts = { url: r.url, authToken: r.token, dir };
  const server = r.server!;

  server.resetStats();
  await status(opts);
  assert.equal(server.stats.requests, 1, "status: one round trip (fresh database)");
  server.resetStats();
  const u = await up(opts);
  assert.equal(u.steps.length, 5);
  assert.ok(server.stats.requests <= 5 + 2, `up of 5: ${server.stats.requests} round trips`);
  assert.equal(server.stats.requests, 3, "lock, one request for the five migrations, unlock");
  server.resetStats();
  await status(opts);
  assert.equal(server.stats.requests, 1, "status: one round trip");
  server.resetStats();
  assert.equal((await current(opts)).current, "005");
  assert.equal(server.stats.requests, 1, "current: one round trip");
  server.resetStats();
  await up(opts);
  assert.ok(server.stats.requests <= 2, `no-op up: ${server.stats.requests} round trips`);
  server.resetStats();
  await down({ ...opts, to: "base" });
  assert.ok(server.stats.requests <= 5 + 2, `down of 5: ${server.stats.requests}`);
  // Each migration still committed on its own, with its own version row and duration.
  const rows = (await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n;
  assert.equal(rows, 0);
});

test("with 50 ms latency an up of 20 SQL migrations takes at most 22 round trips", { skip: NEEDS_TEST_SERVER }, async (t) => {
  const r = await remote(t, { latencyMs: 50 });
  const dir = folder(t, sqlMigrations(20));
  const started = performance.now();
  const u = await up({ url: r.url, authToken: r.token, dir });
  const ms = performance.now() - started;
  assert.equal(u.steps.length, 20);
  assert.ok(r.server!.stats.requests <= 22, `${r.server!.stats.requests} round trips`);
  t.diagnostic(`${r.server!.stats.requests} round trips, ${ms.toFixed(0)} ms wall`);
});

test("the calendar history with its TS data migration, and every command, over HTTP", async (t) => {
  const r = await remote(t);
  const dir = copyCalendar(tempDir(t));
  const opts = { url: r.url, authToken: r.token, dir };
  const dry = await up({ ...opts, dryRun: true });
  assert.equal(dry.plan.length, 6);
  assert.equal((await status(opts)).applied.length, 0, "dry run changed nothing");
  await up({ ...opts, to: "20240320150000" });
  await r.client.batch([
    "INSERT INTO specialists (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', NULL)",
    "INSERT INTO bookings (specialist_id, client_name, starts_at, ends_at) VALUES (1, 'Cleo', '2024-01-20T10:00', '2024-01-20T11:00')",
  ], "write");
  await up(opts);
  assert.deepEqual((await r.client.execute("SELECT name, verified FROM specialists ORDER BY id")).rows.map((x) => [x.name, x.verified]), [["Ada", 1], ["Bob", 0]]);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM bookings")).rows[0]!.n, 1, "no cascade from the specialists rebuild");
  const head = await userSchema(r.client);
  const h = await history(opts);
  assert.equal(h.migrations.every((m) => m.state === "applied"), true);
  const re = await redo(opts);
  assert.equal(re.steps.length, 2);
  await down({ ...opts, to: "base" });
  assert.deepEqual(await userSchema(r.client), []);
  await stamp({ ...opts, revision: "head" });
  assert.equal((await current(opts)).current, "20240410080000");
  await stamp({ ...opts, revision: "base" });
  await up(opts);
  assert.deepEqual(await userSchema(r.client), head);
  const log = await history({ ...opts, log: true });
  assert.ok(log.log!.length >= 6);
});

test("CLI over HTTP: up, status --json, down; token from env, file and URL never printed", async (t) => {
  const r = await remote(t);
  const dir = folder(t, sqlMigrations(3));
  const tokenFile = path.join(tempDir(t), "token");
  fs.writeFileSync(tokenFile, r.token + "\n");
  const outputs: string[] = [];
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const res = await strata([...args, "--dir", dir], { env });
    outputs.push(res.stdout, res.stderr);
    return res;
  };
  assert.equal((await run(["up", "--url", r.url, "--verbose"], { DATABASE_AUTH_TOKEN: r.token })).code, 0);
  const s = json(await run(["status", "--json", "--url", r.url, "--auth-token-file", tokenFile]));
  assert.equal(s.applied.length, 3);
  const u = new URL(r.url);
  const inUrl = `libsql://${u.host}?tls=0&authToken=${encodeURIComponent(r.token)}`;
  if (!NEEDS_TEST_SERVER) {
    const viaLibsql = json(await run(["current", "--json", "--url", inUrl]));
    assert.equal(viaLibsql.current, "003");
    assert.match(viaLibsql.database, /authToken=REDACTED/);
  }
  assert.equal((await run(["down", "--url", r.url, "--auth-token", r.token, "--verbose"])).code, 0);
  // Failing commands, with --verbose stacks.
  const bad = await run(["up", "--url", r.url, "--auth-token", r.token + "x", "--verbose", "--json"]);
  assert.equal(bad.code, 4, "authentication failure: cannot reach the database");
  assert.match(bad.stderr, /authentication failed \(HTTP 401\) for http:\/\/127\.0\.0\.1:\d+/);
  const closed = `libsql://127.0.0.1:${await closedPort()}?tls=0&authToken=${encodeURIComponent(r.token)}`;
  assert.equal((await run(["status", "--url", closed, "--verbose"])).code, 4);
  const all = outputs.join("\n");
  assert.ok(!all.includes(r.token), "the token never appears in any output");
  assert.ok(!all.includes(TEST_TOKEN.slice(4, 20)), "not even a part of it");
});

test("unreachable servers: one clear line, exit 4; reads retried; 5xx on a write reported", { skip: NEEDS_TEST_SERVER }, async (t) => {
  const dir = folder(t, sqlMigrations(2));
  const closed = await closedPort();
  const refused = await strata(["status", "--url", `http://127.0.0.1:${closed}`, "--dir", dir]);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, new RegExp(`connection refused by http://127\\.0\\.0\\.1:${closed}`));
  assert.equal(refused.stderr.trim().split("\n").filter((l) => / error /.test(l)).length, 1);
  const dns = await strata(["status", "--url", "https://no-such-host.invalid", "--dir", dir]);
  assert.equal(dns.code, 4);
  assert.match(dns.stderr, /cannot (resolve host of|reach) https:\/\/no-such-host\.invalid/);

  const r = await remote(t);
  const opts = { url: r.url, authToken: r.token, dir };
  r.server!.failNext(2, 503);
  const s = await status(opts);
  assert.equal(s.pending.length, 2, "a read is retried past two 503s");
  r.server!.failNext(10, 500);
  await assert.rejects(status(opts), (e: StrataError) => e.kind === "unreachable" && /cannot reach/.test(e.message) && !e.message.includes(r.token));
});

test("a lost response to a committed migration is never applied twice", { skip: NEEDS_TEST_SERVER }, async (t) => {
  const r = await remote(t);
  const dir = folder(t, {
    ...sqlMigrations(2),
    "003_data.up.sql": "CREATE TABLE counted (id INTEGER PRIMARY KEY);\nINSERT INTO t1 (v) VALUES ('added once');\n",
    "003_data.down.sql": "DROP TABLE counted;\nDELETE FROM t1 WHERE v = 'added once';\n",
  });
  const opts = { url: r.url, authToken: r.token, dir };
  await up({ ...opts, to: "002" });
  const warnings: string[] = [];
  const { Logger } = await import("../src/output/logger.ts");
  const logger = new Logger({ tty: false, write: (s) => warnings.push(s) });
  // The lock batch goes through; the migration's batch executes but its answer is dropped.
  r.server!.resetStats();
  let seen = 0;
  r.server!.onRequest = () => {
    if (++seen === 1) r.server!.dropNext(1, "after");
  };
  const u = await up({ ...opts, logger });
  r.server!.onRequest = undefined;
  assert.deepEqual(u.steps.map((s) => [s.version, s.outcome, s.recoveredAfterLostResponse ?? false]), [["003", "applied", true]]);
  assert.ok(warnings.some((w) => /lost the server's answer for 003_data .* COMMITTED/.test(w)), warnings.join(""));
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM t1 WHERE v = 'added once'")).rows[0]!.n, 1);
  // Dropped before executing: learned as not committed, then applied once.
  await down(opts);
  seen = 0;
  r.server!.onRequest = () => {
    if (++seen === 1) r.server!.dropNext(1, "before");
  };
  const again = await up({ ...opts, logger });
  r.server!.onRequest = undefined;
  assert.deepEqual(again.steps.map((s) => [s.version, s.outcome]), [["003", "applied"]]);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM t1 WHERE v = 'added once'")).rows[0]!.n, 1, "still once: down removed it, up added it once");
});

test("strata wait and --wait: wait until the server answers", { skip: NEEDS_TEST_SERVER }, async (t) => {
  const dbPath = path.join(tempDir(t), "late.db");
  const probe = await startHranaServer({ dbPath });
  const port = probe.port;
  await probe.close();
  const dir = folder(t, sqlMigrations(1));
  const waiting = strata(["up", "--wait", "--wait-timeout", "20s", "--url", `http://127.0.0.1:${port}`, "--dir", dir]);
  await new Promise((r) => setTimeout(r, 1200));
  const late = await startHranaServer({ dbPath, port });
  t.after(() => late.close());
  const res = await waiting;
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /waiting for http:\/\/127\.0\.0\.1:\d+ to answer/);
  const w = await strata(["wait", "--timeout", "5s", "--url", late.url, "--json"]);
  assert.equal(w.code, 0);
  assert.equal(json(w).attempts, 1);
  const gone = await strata(["wait", "--timeout", "1s", "--url", `http://127.0.0.1:${await closedPort()}`]);
  assert.equal(gone.code, 4);
  assert.match(gone.stderr, /did not answer within 1s/);
});

test("eight concurrent `strata up` against the remote server: each migration once, all exit 0", { skip: NEEDS_TEST_SERVER }, async (t) => {
  const r = await remote(t);
  const dir = folder(t, sqlMigrations(10));
  const runs = await Promise.all(Array.from({ length: 8 }, () => strata(["up", "--json", "--url", r.url, "--dir", dir], { env: { DATABASE_AUTH_TOKEN: r.token } })));
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /database is locked/i);
  }
  const applied = runs.flatMap((run) => json(run).steps.filter((s: { outcome: string }) => s.outcome === "applied").map((s: { version: string }) => s.version));
  assert.equal(applied.length, 10);
  assert.equal(new Set(applied).size, 10);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 10);
});

test("kill -9 and dropped connections during remote runs: version rows match the schema, reruns complete", { skip: NEEDS_TEST_SERVER, timeout: 180_000 }, async (t) => {
  const { ensureBinary } = await import("./support/build.ts");
  const { spawn } = await import("node:child_process");
  const { createClient } = await import("@libsql/client");
  const { runCommand } = await import("./support/cli.ts");
  const bin = ensureBinary();
  const files: Record<string, string> = { ...sqlMigrations(12) };
  files["013_data.ts"] = `export async function up(tx) { for (let i = 0; i < 20; i++) await tx.execute({ sql: "INSERT INTO t1 (v) VALUES (?)", args: ["row" + i] }); await tx.execute("CREATE TABLE data_done (id INTEGER)"); }
export async function down(tx) { await tx.execute("DROP TABLE data_done"); await tx.execute("DELETE FROM t1 WHERE v LIKE 'row%'"); }`;
  const dir = folder(t, files);
  // Reference: the schema after k migrations, built on a local file.
  const refFile = path.join(tempDir(t), "ref.db");
  const refDb = createClient({ url: "file:" + refFile });
  t.after(() => refDb.close());
  const refs = [await userSchema(refDb)];
  for (let k = 1; k <= 13; k++) {
    await up({ url: refFile, dir, step: 1 });
    refs.push(await userSchema(refDb));
  }
  const sandbox = tempDir(t);
  const env = { PATH: "/bin", HOME: sandbox, TMPDIR: sandbox, DATABASE_AUTH_TOKEN: TEST_TOKEN };
  const seen: string[] = [];
  for (let trial = 0; trial < 10; trial++) {
    const dbPath = path.join(tempDir(t), "crash.db");
    const server = await startHranaServer({ dbPath, authToken: TEST_TOKEN, latencyMs: 2, streamIdleTimeoutMs: 300 });
    const client = createClient({ url: server.url, authToken: TEST_TOKEN });
    try {
      // Drop one request's connection, before or after it executes, somewhere in the run.
      const dropAt = 1 + Math.floor(Math.random() * 12);
      const when = Math.random() < 0.5 ? "before" : "after";
      let n = 0;
      server.onRequest = () => {
        if (++n === dropAt) server.dropNext(1, when);
      };
      const child = spawn(bin, ["up", "--url", server.url, "--dir", dir, "-q"], { env, stdio: "ignore" });
      const closed = new Promise((r) => child.once("close", r));
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 250));
      child.kill("SIGKILL");
      await closed;
      server.onRequest = undefined;
      server.dropNext(0, "before"); // a drop armed for the killed run must not hit the checks below
      await new Promise((r) => setTimeout(r, 400)); // the killed runner's stream expires
      assert.equal((await client.execute("PRAGMA integrity_check")).rows[0]![0], "ok");
      let k = 0;
      try {
        k = Number((await client.execute("SELECT count(*) FROM strata_migrations WHERE state = 'applied'")).rows[0]![0]);
      } catch {
        /* killed before strata's tables existed */
      }
      seen.push(`${k}(${when}@${dropAt})`);
      assert.deepEqual(await userSchema(client), refs[k], `trial ${trial}: schema after ${k} migrations`);
      const rerun = await runCommand(bin, ["up", "--url", server.url, "--dir", dir, "-q", "--lock-timeout", "20s"], { cleanEnv: true, env });
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.deepEqual(await userSchema(client), refs[13]);
      assert.equal(Number((await client.execute("SELECT count(*) FROM t1 WHERE v LIKE 'row%'")).rows[0]![0]), 20, "the data migration ran exactly once");
    } finally {
      client.close();
      await server.close();
    }
  }
  t.diagnostic(`killed after k(drop) = ${seen.join(", ")}`);
});
