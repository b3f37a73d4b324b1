/**
 * Unattended operation: concurrent runners, kill -9 at random moments, integrity guards — on a
 * local file and on the real sqld (its tests start with "sqld:"; one sqld for this file, a fresh
 * namespace per test, see test/support/remote.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { up } from "../src/commands/migrate.ts";
import { status } from "../src/commands/inspect.ts";
import { resolve } from "../src/commands/record.ts";
import { StrataError } from "../src/errors.ts";
import { createClient, type Client } from "@libsql/client";
import { check } from "../src/commands/schema.ts";
import { ensureBinary } from "./support/build.ts";
import { copyCalendar, openDb, rejectsWith, ROOT, runCommand, tempDir, userSchema, writeFiles } from "./support/cli.ts";
import { remote, tableMigrations } from "./support/remote.ts";
import { NO_SQLD, startSqld } from "./support/sqld.ts";

/** 30 migrations: DDL, large data loads, TS data migrations, a rebuild. */
function crashMigrations(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= 30; i++) {
    const v = String(i).padStart(3, "0");
    if (i % 10 === 5) {
      files[`${v}_load_${i}.up.sql`] = `CREATE TABLE big_${i} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad TEXT);
INSERT INTO big_${i} (v, pad) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 60000) SELECT x, hex(randomblob(16)) FROM n;
CREATE INDEX ix_big_${i}_v ON big_${i} (v);`;
      files[`${v}_load_${i}.down.sql`] = `DROP TABLE big_${i};`;
    } else if (i % 10 === 8) {
      files[`${v}_touch_${i}.ts`] = `export async function up(tx) {
  const target = "big_${i - 3}";
  for (let lo = 0; lo < 60000; lo += 10000) {
    await tx.execute({ sql: \`UPDATE \${target} SET v = v + 1 WHERE id > ? AND id <= ?\`, args: [lo, lo + 10000] });
  }
  await tx.execute("CREATE TABLE marker_${i} (id INTEGER PRIMARY KEY)");
}
export async function down(tx) { await tx.execute("DROP TABLE marker_${i}"); await tx.execute("UPDATE big_${i - 3} SET v = v - 1"); }`;
    } else {
      files[`${v}_table_${i}.up.sql`] = `CREATE TABLE t_${i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, parent INTEGER REFERENCES t_${Math.max(1, i - 1)} (id));
CREATE INDEX ix_t_${i}_name ON t_${i} (name);
INSERT INTO t_${i} (name) VALUES ('a'), ('b'), ('c');`;
      files[`${v}_table_${i}.down.sql`] = `DROP TABLE t_${i};`;
    }
  }
  return files;
}

async function referenceSchemas(t: Parameters<typeof tempDir>[0], mdir: string): Promise<string[][]> {
  const file = path.join(tempDir(t), "ref.db");
  const db = openDb(t, file);
  const refs = [await userSchema(db)];
  for (let k = 1; k <= 30; k++) {
    await up({ url: file, dir: mdir, step: 1 });
    refs.push(await userSchema(db));
  }
  return refs;
}

test("kill -9 at random moments: integrity ok, version table = schema after k migrations, rerun completes", { timeout: 240_000 }, async (t) => {
  const bin = ensureBinary();
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, crashMigrations());
  const refs = await referenceSchemas(t, mdir);
  const sandbox = tempDir(t);
  const env = { PATH: "/bin", HOME: sandbox, TMPDIR: sandbox };

  // How long a full run takes, to spread the kills over it.
  const probe = path.join(dir, "probe.db");
  const t0 = performance.now();
  const full = await runCommand(bin, ["up", "--url", probe, "--dir", mdir, "-q"], { cleanEnv: true, env });
  assert.equal(full.code, 0, full.stderr);
  const fullMs = performance.now() - t0;

  const seen = new Set<number>();
  for (let trial = 0; trial < 20; trial++) {
    const file = path.join(dir, `crash-${trial}.db`);
    const child = spawn(bin, ["up", "--url", file, "--dir", mdir, "-q"], { env, stdio: "ignore" });
    const closed = new Promise((r) => child.once("close", r));
    const delay = 5 + Math.random() * fullMs;
    await new Promise((r) => setTimeout(r, delay));
    child.kill("SIGKILL");
    await closed;

    if (fs.existsSync(file)) {
      const db = openDb(t, file);
      assert.equal((await db.execute("PRAGMA integrity_check")).rows[0]![0], "ok", `trial ${trial}`);
      let k = 0;
      try {
        k = Number((await db.execute("SELECT count(*) FROM strata_migrations WHERE state = 'applied'")).rows[0]![0]);
      } catch {
        /* killed before strata's tables existed */
      }
      seen.add(k);
      assert.deepEqual(await userSchema(db), refs[k], `trial ${trial} (killed after ${delay.toFixed(0)} ms): schema is exactly that after ${k} migrations`);
      db.close();
    }
    const rerun = await runCommand(bin, ["up", "--url", file, "--dir", mdir, "-q", "--lock-timeout", "10s"], { cleanEnv: true, env });
    assert.equal(rerun.code, 0, `trial ${trial} rerun: ${rerun.stderr}`);
    const db = openDb(t, file);
    assert.deepEqual(await userSchema(db), refs[30]);
    assert.equal(Number((await db.execute("SELECT count(*) FROM strata_migrations")).rows[0]![0]), 30);
    db.close();
    fs.rmSync(file, { force: true });
  }
  t.diagnostic(`kills landed after k = ${[...seen].sort((a, b) => a - b).join(", ")} migrations (full run ${fullMs.toFixed(0)} ms)`);
});

test("eight concurrent `strata up` on one file: each migration once, all exit 0, no 'database is locked'", { timeout: 120_000 }, async (t) => {
  const bin = ensureBinary();
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  const files = crashMigrations();
  writeFiles(mdir, files);
  const file = path.join(dir, "shared.db");
  const sandbox = tempDir(t);
  const env = { PATH: "/bin", HOME: sandbox, TMPDIR: sandbox };
  const runs = await Promise.all(Array.from({ length: 8 }, () => runCommand(bin, ["up", "--url", file, "--dir", mdir, "--json"], { cleanEnv: true, env })));
  for (const r of runs) {
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /database is locked/i);
  }
  const applied = runs.flatMap((r) => (JSON.parse(r.stdout) as { steps: { version: string; outcome: string }[] }).steps.filter((s) => s.outcome === "applied").map((s) => s.version));
  assert.equal(applied.length, 30, "every migration applied exactly once across the eight runners");
  assert.equal(new Set(applied).size, 30);
  const waited = runs.filter((r) => /another runner applied/.test(r.stderr) || /waiting for the migration lock/.test(r.stderr));
  t.diagnostic(`${waited.length} runners waited for the lock`);
  const db = openDb(t, file);
  assert.equal(Number((await db.execute("SELECT count(*) FROM strata_migrations")).rows[0]![0]), 30);
  // Runners that found nothing to do wrote nothing; the log accounts for every version once.
  const logged = (await db.execute("SELECT versions FROM strata_migrations_log WHERE command = 'up' AND result = 'ok'")).rows.flatMap((r) => JSON.parse(String(r.versions)) as string[]);
  assert.equal(logged.length, 30);
  assert.equal(new Set(logged).size, 30);
});

test("a stale lock of a dead process on this host is taken over and the takeover logged", async (t) => {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, { "001_a.up.sql": "CREATE TABLE a (id INTEGER);" });
  const file = path.join(dir, "app.db");
  await up({ url: file, dir: mdir });
  const db = openDb(t, file);
  const os = await import("node:os");
  // pid 2^22 - 1 is above Linux's default pid_max range in practice: no such process.
  await db.execute({ sql: "INSERT INTO strata_migrations_lock VALUES (1, 'dead', ?, 4194303, '0', 'up', '2024-01-01T00:00:00Z', '2999-01-01T00:00:00Z')", args: [os.hostname()] });
  const warnings: string[] = [];
  const { Logger } = await import("../src/output/logger.ts");
  const logger = new Logger({ tty: false, write: (s) => warnings.push(s) });
  writeFiles(mdir, { "002_b.up.sql": "CREATE TABLE b (id INTEGER);" });
  const r = await up({ url: file, dir: mdir, logger, lockTimeout: "2s" });
  assert.deepEqual(r.steps.map((s) => s.version), ["002"]);
  assert.ok(warnings.some((w) => /took over a stale lock held by .* pid 4194303/.test(w)), warnings.join(""));
});

test("no-transaction migration that dies midway shows as failed; up refuses until resolved", async (t) => {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, {
    "001_a.up.sql": "CREATE TABLE a (id INTEGER);",
    "002_nt.up.sql": "-- strata:no-transaction\nCREATE TABLE b (id INTEGER);\nINSERT INTO nosuch VALUES (1);\n",
  });
  const file = path.join(dir, "app.db");
  const opts = { url: file, dir: mdir };
  await assert.rejects(up(opts), (e: StrataError) => e.kind === "sql" && /no such table: nosuch/.test(e.message) && /resolve 002/.test(e.hint ?? ""));
  const s = await status(opts);
  assert.deepEqual(s.failed, ["002"]);
  await assert.rejects(up(opts), (e: StrataError) => e.kind === "state" && /failed midway/.test(e.message) && /strata resolve 002/.test(e.hint ?? ""));
  // A human finishes the job by hand, then tells strata.
  fs.writeFileSync(path.join(mdir, "002_nt.up.sql"), "-- strata:no-transaction\nCREATE TABLE b (id INTEGER);\n");
  await resolve({ ...opts, version: "002", as: "applied" });
  assert.deepEqual((await status(opts)).failed, []);
});

test("foreign key violations and cascade-by-drop are refused with table names and rowids", async (t) => {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, {
    "001_schema.up.sql": `CREATE TABLE parent (id INTEGER PRIMARY KEY);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);
INSERT INTO parent VALUES (1), (2);
INSERT INTO child VALUES (10, 1), (11, 2), (12, 2);`,
    "002_drop_parent.up.sql": "DROP TABLE parent;\n",
  });
  const file = path.join(dir, "app.db");
  await assert.rejects(up({ url: file, dir: mdir }), (e: StrataError) => {
    assert.equal(e.kind, "sql");
    assert.match(e.message, /foreign key violations: child → parent \(rowids 10, 11, 12\)/);
    return true;
  });
  const db = openDb(t, file);
  assert.equal(Number((await db.execute("SELECT count(*) FROM child")).rows[0]![0]), 3, "no child row was deleted by a cascade");
  assert.equal(Number((await db.execute("SELECT count(*) FROM parent")).rows[0]![0]), 2);
});

// ---------------------------------------------------------------------------------------------
// The same on the real libSQL server.

/** 8 SQL migrations and a TS data migration of 20 single-row requests (a transaction across requests). */
function remoteCrashMigrations(): Record<string, string> {
  return {
    ...tableMigrations(8),
    "009_data.ts": `export async function up(tx) { for (let i = 0; i < 20; i++) await tx.execute({ sql: "INSERT INTO t1 (v) VALUES (?)", args: ["row" + i] }); await tx.execute("CREATE TABLE data_done (id INTEGER)"); }
export async function down(tx) { await tx.execute("DROP TABLE data_done"); await tx.execute("DELETE FROM t1 WHERE v LIKE 'row%'"); }`,
  };
}
const REMOTE_COUNT = 9;

/** Schema after k migrations, k = 0…count, built on a local file. */
async function localReferences(t: Parameters<typeof tempDir>[0], mdir: string, count: number): Promise<string[][]> {
  const file = path.join(tempDir(t), "ref.db");
  const db = openDb(t, file);
  const refs = [await userSchema(db)];
  for (let k = 1; k <= count; k++) {
    await up({ url: file, dir: mdir, step: 1 });
    refs.push(await userSchema(db));
  }
  return refs;
}

/** The binary, the crash migrations, their reference schemas and a sandbox HOME for the runs. */
async function crashSetup(t: Parameters<typeof tempDir>[0]): Promise<{ bin: string; mdir: string; refs: string[][]; sandbox: string }> {
  const bin = ensureBinary();
  const mdir = path.join(tempDir(t), "migrations");
  writeFiles(mdir, remoteCrashMigrations());
  return { bin, mdir, refs: await localReferences(t, mdir, REMOTE_COUNT), sandbox: tempDir(t) };
}

/** Applied versions on the server (0 before strata's tables exist). */
async function appliedCount(client: Client): Promise<number> {
  try {
    return Number((await client.execute("SELECT count(*) FROM strata_migrations")).rows[0]![0]);
  } catch (e) {
    if ((e as { code?: string }).code === "SQLITE_UNKNOWN" || (e as { code?: string }).code === "SQLITE_ERROR") return 0;
    throw e;
  }
}

/** After an interrupted run: the server holds exactly the first k migrations, and a rerun completes once. */
async function assertConsistentThenRerun(client: Client, refs: string[][], rerun: () => Promise<{ code: number; stderr: string }>, what: string): Promise<number> {
  assert.equal((await client.execute("PRAGMA integrity_check")).rows[0]![0], "ok", what);
  const k = await appliedCount(client);
  assert.deepEqual(await userSchema(client), refs[k], `${what}: schema is exactly that after ${k} migrations`);
  const again = await rerun();
  assert.equal(again.code, 0, `${what} rerun: ${again.stderr}`);
  assert.deepEqual(await userSchema(client), refs[REMOTE_COUNT]);
  assert.equal(await appliedCount(client), REMOTE_COUNT);
  assert.equal(Number((await client.execute("SELECT count(*) FROM t1 WHERE v LIKE 'row%'")).rows[0]![0]), 20, `${what}: the data migration ran exactly once`);
  return k;
}

test("sqld: eight concurrent `strata up` on one database, four over http:// and four over ws://: each migration once, all exit 0", { skip: NO_SQLD, timeout: 120_000 }, async (t) => {
  const bin = ensureBinary();
  const r = await remote(t);
  const mdir = path.join(tempDir(t), "migrations");
  writeFiles(mdir, remoteCrashMigrations());
  const sandbox = tempDir(t);
  const env = { PATH: "/bin", HOME: sandbox, TMPDIR: sandbox, DATABASE_AUTH_TOKEN: r.token };
  const urls = [r.url, r.url.replace(/^http:/, "ws:")];
  const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => runCommand(bin, ["up", "--json", "--url", urls[i % 2]!, "--dir", mdir, "--lock-timeout", "60s"], { cleanEnv: true, env })));
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  const applied = runs.flatMap((run) => (JSON.parse(run.stdout) as { steps: { version: string; outcome: string }[] }).steps.filter((s) => s.outcome === "applied").map((s) => s.version));
  assert.equal(applied.length, REMOTE_COUNT, `applied across runners: ${applied.join(",")}`);
  assert.equal(new Set(applied).size, REMOTE_COUNT);
  assert.equal(await appliedCount(r.client), REMOTE_COUNT);
  assert.equal(Number((await r.client.execute("SELECT count(*) FROM t1 WHERE v LIKE 'row%'")).rows[0]![0]), 20);
  const logged = (await r.client.execute("SELECT versions FROM strata_migrations_log WHERE command = 'up' AND result = 'ok'")).rows.flatMap((x) => JSON.parse(String(x.versions)) as string[]);
  assert.deepEqual([...logged].sort(), [...applied].sort(), "the audit log accounts for every version once");
});

test("sqld: kill -9 of a runner mid-migration, with a connection dropped by the proxy: the server holds k whole migrations, reruns complete", { skip: NO_SQLD, timeout: 180_000 }, async (t) => {
  const { bin, mdir, refs, sandbox } = await crashSetup(t);
  const seen: string[] = [];
  for (let trial = 0; trial < 4; trial++) {
    const r = await remote(t, { latencyMs: 2 });
    const proxy = r.proxy!;
    const env = { PATH: "/bin", HOME: sandbox, TMPDIR: sandbox, DATABASE_AUTH_TOKEN: r.token };
    // sqld cannot lose a connection on demand: the proxy drops one, before or after sqld ran it.
    const dropAt = 1 + Math.floor(Math.random() * 10);
    const when = trial % 2 === 0 ? "before" : "after";
    let n = 0;
    proxy.onRequest = () => {
      if (++n === dropAt) proxy.dropNext(1, when);
    };
    const child = spawn(bin, ["up", "--url", r.url, "--dir", mdir, "-q"], { env, stdio: "ignore" });
    const closed = new Promise((res) => child.once("close", res));
    await new Promise((res) => setTimeout(res, 30 + Math.random() * 300));
    child.kill("SIGKILL");
    await closed;
    proxy.onRequest = undefined;
    proxy.dropNext(0, "before");
    const rerun = () => runCommand(bin, ["up", "--url", r.directUrl, "--dir", mdir, "-q", "--lock-timeout", "30s"], { cleanEnv: true, env });
    const k = await assertConsistentThenRerun(r.client, refs, rerun, `trial ${trial} (${when}@${dropAt})`);
    seen.push(`${k}(${when}@${dropAt})`);
  }
  t.diagnostic(`killed after k(drop) = ${seen.join(", ")}`);
});

test("sqld: kill -9 of the server and restart mid-`up`: the server holds k whole migrations, the run reports it, reruns complete", { skip: NO_SQLD, timeout: 180_000 }, async (t) => {
  const { bin, mdir, refs, sandbox } = await crashSetup(t);
  const outcomes: string[] = [];
  for (let trial = 0; trial < 4; trial++) {
    // Latency spreads the run over ~30 requests so the kill lands inside it.
    const r = await remote(t, { latencyMs: 15 });
    const env = { PATH: "/bin", HOME: sandbox, TMPDIR: sandbox, DATABASE_AUTH_TOKEN: r.token };
    const running = runCommand(bin, ["up", "--url", r.url, "--dir", mdir, "--json", "--lock-timeout", "30s"], { cleanEnv: true, env });
    await new Promise((res) => setTimeout(res, 100 + Math.random() * 500));
    await r.sqld.restart();
    const first = await running;
    if (first.code === 0) {
      // It rode out the restart: then everything it reports applied is on the server.
      const steps = (JSON.parse(first.stdout) as { steps: { version: string; outcome: string }[] }).steps;
      assert.ok(steps.length > 0);
    } else {
      assert.ok([1, 4].includes(first.code), `exit ${first.code}: ${first.stderr}`);
      assert.equal(first.stderr.trim().split("\n").filter((l) => / error /.test(l)).length, 1, `one error line: ${first.stderr}`);
    }
    const rerun = () => runCommand(bin, ["up", "--url", r.url, "--dir", mdir, "-q", "--lock-timeout", "30s"], { cleanEnv: true, env });
    const k = await assertConsistentThenRerun(r.client, refs, rerun, `trial ${trial} (first run exit ${first.code})`);
    outcomes.push(`exit ${first.code} at k=${k}`);
  }
  t.diagnostic(outcomes.join("; "));
});

/** 001 creates `items` and `other`; 002 is a TS migration that writes, works 6.5 s in its transaction, writes again. */
async function slowMigrationProject(t: Parameters<typeof tempDir>[0]) {
  const r = await remote(t);
  const mdir = path.join(tempDir(t), "migrations");
  writeFiles(mdir, {
    "001_base.up.sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\nCREATE TABLE other (id INTEGER PRIMARY KEY AUTOINCREMENT);\n",
    "001_base.down.sql": "DROP TABLE other;\nDROP TABLE items;\n",
    "002_slow.ts": `export async function up(tx) {
  await tx.execute("INSERT INTO items (v) VALUES ('first')");
  await new Promise((r) => setTimeout(r, 6500));
  await tx.execute("INSERT INTO items (v) VALUES ('second')");
}
export async function down(tx) { await tx.execute("DELETE FROM items"); }`,
  });
  const opts = { url: r.url, authToken: r.token, dir: mdir };
  await up({ ...opts, to: "001" });
  return { r, opts };
}

/** One competing write: sqld rolls the migration back once; strata re-runs it (or reports it), never half-applied. */
async function oneCompetingWrite(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const { r, opts } = await slowMigrationProject(t);
  const migrating = up(opts).then(
    (result) => ({ ok: true as const, result }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  // The competing writer comes in while the migration is inside its transaction.
  await new Promise((res) => setTimeout(res, 1000));
  const other = createClient({ url: r.directUrl, authToken: r.token });
  t.after(() => other.close());
  await other.execute("INSERT INTO other DEFAULT VALUES");
  const outcome = await migrating;
  const items = (await r.client.execute("SELECT v FROM items ORDER BY id")).rows.map((x) => x.v);
  const applied = (await r.client.execute("SELECT version FROM strata_migrations ORDER BY version")).rows.map((x) => x.version);
  if (outcome.ok) {
    assert.deepEqual(outcome.result.steps.map((s) => [s.version, s.outcome]), [["002", "applied"]]);
    assert.deepEqual(items, ["first", "second"], "completed: each write once");
    assert.deepEqual(applied, ["001", "002"]);
  } else {
    const e = outcome.error as StrataError;
    assert.ok(e instanceof StrataError, String(e));
    assert.match(e.message, /002_slow/, "names the migration");
    assert.match(`${e.message} ${e.hint ?? ""}`, /roll(ed)? ?back|transaction time/i, `says the server rolled the transaction back: ${e.message}`);
    assert.deepEqual(items, [], "nothing of the rolled-back transaction remains");
    assert.deepEqual(applied, ["001"]);
    assert.deepEqual((await status(opts)).pending.map((m) => m.version), ["002"], "status agrees with the server");
  }
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM other")).rows[0]!.n, 1, "the other client's write went through");
  return outcome.ok ? "completed" : `reported: ${(outcome.error as Error).message}`;
}

test("sqld: `up` through a replica forwards its writes to the primary; status and check through the replica show them", { skip: NO_SQLD, timeout: 60_000 }, async (t) => {
  const primary = await startSqld({ grpc: true });
  t.after(() => primary.stop());
  const replica = await startSqld({ primaryGrpcUrl: primary.grpcUrl, keys: primary.keys });
  t.after(() => replica.stop());
  const dir = tempDir(t);
  const mdir = copyCalendar(dir);
  const opts = { url: replica.url, authToken: replica.token, dir: mdir, schema: path.join(ROOT, "schema.sql") };
  const u = await up(opts);
  assert.equal(u.steps.filter((s) => s.outcome === "applied").length, 6);
  const onPrimary = createClient({ url: primary.url, authToken: primary.token });
  t.after(() => onPrimary.close());
  assert.equal(await appliedCount(onPrimary), 6, "the version rows are on the primary");
  // The replica applies the primary's frames asynchronously; a read on a new stream right after
  // a write may be a few ms behind. `strata wait`-style: re-read until it shows the writes.
  const started = performance.now();
  let s = await status(opts);
  while (s.pending.length > 0 && performance.now() - started < 5000) {
    await new Promise((res) => setTimeout(res, 20));
    s = await status(opts);
  }
  t.diagnostic(`replica caught up after ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(s.applied.length, 6);
  assert.deepEqual(s.pending, []);
  assert.equal((await check(opts)).ok, true, "check through the replica: database, migrations and schema.sql agree");
});

/** A writer that never stops: every attempt is rolled back; bounded re-runs, then a failure naming the cause. */
async function writerThatNeverStops(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const { r, opts } = await slowMigrationProject(t);
  const other = createClient({ url: r.directUrl, authToken: r.token });
  t.after(() => other.close());
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await other.execute("INSERT INTO other DEFAULT VALUES");
      await new Promise((res) => setTimeout(res, 300));
    }
  })();
  const warnings: string[] = [];
  const { Logger } = await import("../src/output/logger.ts");
  const logger = new Logger({ tty: false, write: (x) => warnings.push(x) });
  const started = performance.now();
  // --lock-timeout bounds the re-runs in total time: 8 s allows a second attempt (the first one ends at ~6.5 s).
  const e = await rejectsWith(up({ ...opts, lockTimeout: "8s", logger }), "failure", /002_slow .*did not commit after [1-4] attempt\(s\).*rolled the transaction back \(TRANSACTION_TIMEOUT/);
  writing = false;
  await writer;
  const took = `${e.message} — after ${((performance.now() - started) / 1000).toFixed(1)} s`;
  const attempts = Number(/after (\d) attempt/.exec(e.message)![1]);
  const reruns = warnings.filter((w) => /002_slow \(up\): the server rolled the transaction back .*running it again/.test(w)).length;
  assert.ok(reruns >= attempts - 1, `every re-run is announced with its cause: ${warnings.join("")}`);
  assert.equal((await r.client.execute("SELECT count(*) AS n FROM items")).rows[0]!.n, 0, "nothing of either attempt remains");
  assert.deepEqual((await status(opts)).pending.map((m) => m.version), ["002"], "status agrees with the server");
  assert.ok(Number((await r.client.execute("SELECT count(*) AS n FROM other")).rows[0]!.n) > 5, "the other writer was never blocked for long");
  const log = (await r.client.execute("SELECT result FROM strata_migrations_log ORDER BY rowid DESC LIMIT 1")).rows[0]!;
  assert.notEqual(log.result, "ok", "the audit log records the failure");
  return took;
}

// Both wait out sqld's lock-hold limit, so they run side by side (separate databases).
test("sqld: TS migrations holding the write lock past sqld's ~5 s while others write: re-run and completed, or bounded re-runs and a failure naming the cause; never half-applied", { skip: NO_SQLD, timeout: 90_000 }, async (t) => {
  const [one, never] = await Promise.all([oneCompetingWrite(t), writerThatNeverStops(t)]);
  t.diagnostic(`one competing write: ${one}`);
  t.diagnostic(`a writer that never stops: ${never}`);
});
