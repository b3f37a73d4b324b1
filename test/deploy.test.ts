/**
 * deploy: the real thing with a small HTTP app (test/fixtures/app/server.mjs) whose /health
 * needs specialists.verified. strata runs as a child process, the app as its child (foreground)
 * or started by a launcher shell; signals are real.
 *
 * The test process never opens the database before a deploy ends: restore refuses to replace a
 * file another process has open, and a closed @libsql/client keeps its file handle until GC.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import process from "node:process";
import { createClient } from "@libsql/client";
import { ROOT, TSX_LOADER, json, strata, tempDir, writeFiles, type RunResult } from "./support/cli.ts";
import { opsEntry } from "./fixtures/app/cli.ts";

type T = Parameters<typeof tempDir>[0];

const SERVER = path.join(ROOT, "test/fixtures/app/server.mjs");

const BASE = {
  "001_specialists.up.sql": `CREATE TABLE specialists (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, verified INTEGER NOT NULL DEFAULT 0);
INSERT INTO specialists (name, verified) VALUES ('Ada', 1), ('Grace', 0), ('Edsger', 1);
`,
  "001_specialists.down.sql": "DROP TABLE specialists;\n",
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A project at version 001 (migrated by a child process), with `extra` migrations pending. */
async function project(t: T, extra: Record<string, string>) {
  // Registered before tempDir's own cleanup, so it runs first, while the pid file still exists.
  const pidFile = { path: "" };
  t.after(() => killPidFile(pidFile.path));
  const dir = tempDir(t);
  pidFile.path = path.join(dir, "app.pid");
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, { ...BASE, ...extra });
  const db = path.join(dir, "app.db");
  const out = path.join(dir, "backups");
  const r = await strata(["up", "--to", "001", "--url", db, "--dir", mdir], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const port = await freePort();
  const env = { PORT: String(port), APP_DB: db, APP_PID_FILE: pidFile.path };
  const common = ["--url", db, "--dir", mdir, "--out", out];
  return { dir, mdir, db, out, port, env, common, health: `http://127.0.0.1:${port}/health` };
}

interface Running {
  pid: number;
  result: Promise<RunResult>;
  stderrSoFar(): string;
  kill(signal: NodeJS.Signals): void;
}

/** `strata deploy …` as a child we can signal. Killed (with its app) when the test ends. */
function deploy(t: T, args: string[], cwd: string, env: Record<string, string>): Running {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(DATABASE_|STRATA_|LIBSQL_|TURSO_)/.test(k)) childEnv[k] = v;
  const child = spawn(process.execPath, ["--import", TSX_LOADER, opsEntry(), "deploy", ...args], { cwd, env: { ...childEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const result = new Promise<RunResult>((resolve) => child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL"); // its app, if any, is killed through the pid file (project())
      await result;
    }
  });
  return { pid: child.pid!, result, stderrSoFar: () => stderr, kill: (s) => child.kill(s) };
}

function killPidFile(file: string | undefined): void {
  if (!file || !fs.existsSync(file)) return;
  try {
    process.kill(Number(fs.readFileSync(file, "utf8")), "SIGKILL");
  } catch {
    /* gone */
  }
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

async function state(t: T, db: string) {
  const c = createClient({ url: "file:" + db });
  t.after(() => c.close());
  const version = (await c.execute("SELECT max(version) AS v FROM strata_migrations")).rows[0]!.v;
  const rows = (await c.execute("SELECT * FROM specialists ORDER BY id")).rows.map((r) => JSON.stringify(r));
  const columns = (await c.execute("SELECT name FROM pragma_table_info('specialists')")).rows.map((r) => String(r.name));
  return { version: version === null ? null : String(version), rows, columns };
}

const ROWS = [
  JSON.stringify({ id: 1, name: "Ada", verified: 1 }),
  JSON.stringify({ id: 2, name: "Grace", verified: 0 }),
  JSON.stringify({ id: 3, name: "Edsger", verified: 1 }),
];

test("deploy: backup -> up -> start -> healthy; a foreground app stays strata's child, gets the SIGTERM and sets the exit code", async (t) => {
  const p = await project(t, {
    "002_bio.up.sql": "ALTER TABLE specialists ADD COLUMN bio TEXT;\n",
    "002_bio.down.sql": "ALTER TABLE specialists DROP COLUMN bio;\n",
  });
  const run = deploy(t, [...p.common, "--health-url", p.health, "--health-timeout", "20s", "--json", "--", process.execPath, SERVER], p.dir, { ...p.env, APP_EXIT_CODE: "7" });
  await until("the app to be healthy", () => healthy(p.health));
  await until("deploy to report success", () => /deployed; the app runs as pid/.test(run.stderrSoFar()));
  run.kill("SIGTERM");
  const r = await run.result;
  assert.equal(r.code, 7, r.stderr);
  const out = json(r);
  assert.equal(out.ok, true);
  assert.equal(out.state, "deployed");
  assert.equal(out.appExitCode, 7);
  assert.equal(out.from, "001");
  assert.equal(out.to, "002");
  assert.deepEqual(out.applied, ["002"]);
  assert.deepEqual(out.steps.map((s: { step: string; outcome: string }) => `${s.step}:${s.outcome}`), ["backup:ok", "up:ok", "start:ok", "health:ok", "run:ok"]);
  for (const s of out.steps) assert.equal(typeof s.durationMs, "number");
  assert.match(r.stderr, /forwarding SIGTERM to the app/);
  assert.match(r.stderr, /app got SIGTERM/, "the app's output goes to stderr");
  assert.match(out.backup, /app-\d{8}T\d{6}Z-001-pre-deploy\.db$/);
  assert.ok(fs.existsSync(out.backup));
  const s = await state(t, p.db);
  assert.equal(s.version, "002");
  assert.deepEqual(s.columns, ["id", "name", "verified", "bio"]);
});

test("deploy: a launcher that exits 0 leaves health to decide; success exits 0", async (t) => {
  const p = await project(t, {
    "002_bio.up.sql": "ALTER TABLE specialists ADD COLUMN bio TEXT;\n",
    "002_bio.down.sql": "ALTER TABLE specialists DROP COLUMN bio;\n",
  });
  const launcher = `${JSON.stringify(process.execPath)} ${JSON.stringify(SERVER)} > /dev/null 2>&1 &`;
  const r = await deploy(t, [...p.common, "--health-url", p.health, "--", launcher], p.dir, p.env).result;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /treating it as a launcher/);
  assert.match(r.stdout, /^STEP\s+OUTCOME\s+DURATION\s+DETAIL$/m);
  assert.match(r.stdout, /^health\s+ok\s+/m);
  assert.match(r.stdout, /deployed: database at 002/);
  assert.equal(await healthy(p.health), true, "the app keeps running after strata exits");
});

test("deploy: a migration that breaks health is rolled back with down; the summary lists every step", async (t) => {
  const p = await project(t, {
    "002_rename.up.sql": "ALTER TABLE specialists RENAME COLUMN verified TO is_verified;\n",
    "002_rename.down.sql": "ALTER TABLE specialists RENAME COLUMN is_verified TO verified;\n",
  });
  const marker = path.join(p.dir, "rolled-back");
  const r = await deploy(t, [...p.common, "--health-url", p.health, "--health-timeout", "2s", "--rollback-cmd", `echo done > ${JSON.stringify(marker)}`, "--json", "--", process.execPath, SERVER], p.dir, p.env).result;
  assert.equal(r.code, 1, r.stderr);
  const out = json(r);
  assert.equal(out.ok, false);
  assert.equal(out.failedStep, "health");
  assert.equal(out.state, "pre-deploy");
  assert.equal(out.revertedBy, "down");
  assert.equal(out.to, "001");
  assert.deepEqual(out.steps.map((s: { step: string; outcome: string }) => `${s.step}:${s.outcome}`), ["backup:ok", "up:ok", "start:ok", "health:failed", "stop:ok", "revert:ok", "rollback-cmd:ok"]);
  assert.match(out.steps[3].detail, /not healthy after 2 s .*-> 500/);
  assert.match(r.stderr, /the database is in its pre-deploy state \(001\)/);
  assert.ok(fs.existsSync(marker), "--rollback-cmd ran");
  assert.equal(await healthy(p.health), false, "the app was stopped");
  const s = await state(t, p.db);
  assert.equal(s.version, "001");
  assert.deepEqual(s.rows, ROWS);
});

test("deploy: when the last migration is irreversible the backup is restored; a launched app is stopped with --stop-cmd", async (t) => {
  const p = await project(t, {
    "002_bio.up.sql": "ALTER TABLE specialists ADD COLUMN bio TEXT;\n",
    "002_bio.down.sql": "ALTER TABLE specialists DROP COLUMN bio;\n",
    "003_drop_verified.up.sql": "ALTER TABLE specialists DROP COLUMN verified;\n", // no down: irreversible
  });
  const launcher = `${JSON.stringify(process.execPath)} ${JSON.stringify(SERVER)} > /dev/null 2>&1 &`;
  const stop = `kill $(cat ${JSON.stringify(p.env.APP_PID_FILE)})`;
  const r = await deploy(t, [...p.common, "--health-url", p.health, "--health-timeout", "2", "--stop-cmd", stop, "--", launcher], p.dir, p.env).result;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^stop-cmd\s+ok\s+/m);
  assert.match(r.stdout, /^revert\s+ok\s+.*003 is irreversible; restored .*-001-pre-deploy\.db \(version 001\)/m);
  assert.match(r.stdout, /the database is in its pre-deploy state \(001\), reverted by restore/);
  assert.equal(await healthy(p.health), false);
  const s = await state(t, p.db);
  assert.equal(s.version, "001");
  assert.deepEqual(s.columns, ["id", "name", "verified"]);
  assert.deepEqual(s.rows, ROWS);
  assert.ok(fs.readdirSync(p.out).some((f) => /-003-pre-restore\.db$/.test(f)), "the failed state was kept as a safety backup");
});

test("deploy: interrupted during up, the migration in flight finishes and the database goes back to the pre-deploy state", async (t) => {
  const p = await project(t, {
    "002_slow.ts": `export async function up(tx) {
  await tx.execute("ALTER TABLE specialists ADD COLUMN bio TEXT");
  await new Promise((r) => setTimeout(r, 1500));
}
export async function down(tx) {
  await tx.execute("ALTER TABLE specialists DROP COLUMN bio");
}
`,
    "003_more.up.sql": "CREATE TABLE more (id INTEGER PRIMARY KEY);\n",
    "003_more.down.sql": "DROP TABLE more;\n",
  });
  const run = deploy(t, [...p.common, "--health-url", p.health, "--json", "--", process.execPath, SERVER], p.dir, p.env);
  await until("002 to start", () => /applying 002_slow/.test(run.stderrSoFar()));
  run.kill("SIGINT");
  const r = await run.result;
  assert.equal(r.code, 130, r.stderr);
  const out = json(r);
  assert.equal(out.interrupted, "SIGINT");
  assert.equal(out.state, "pre-deploy");
  assert.deepEqual(out.applied, ["002"], "the migration in flight finished; 003 never started");
  assert.deepEqual(out.steps.map((s: { step: string; outcome: string }) => `${s.step}:${s.outcome}`), ["backup:ok", "up:interrupted", "revert:ok"]);
  assert.match(r.stderr, /received SIGINT: the migration in flight will commit or roll back/);
  assert.match(r.stderr, /interrupted by SIGINT; the database is in its pre-deploy state \(001\)/);
  const s = await state(t, p.db);
  assert.equal(s.version, "001");
  assert.deepEqual(s.columns, ["id", "name", "verified"]);
  assert.deepEqual(s.rows, ROWS);
});

test("deploy: the first deploy (no database yet) skips the backup; its rollback removes the database it created", async (t) => {
  const pidFile = { path: "" };
  t.after(() => killPidFile(pidFile.path));
  const dir = tempDir(t);
  pidFile.path = path.join(dir, "app.pid");
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, { "001_specialists.up.sql": "CREATE TABLE specialists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n" }); // irreversible, and no verified column
  const db = path.join(dir, "app.db");
  const port = await freePort();
  const r = await deploy(t, ["--url", db, "--dir", mdir, "--health-url", `http://127.0.0.1:${port}/health`, "--health-timeout", "1s", "--json", "--", process.execPath, SERVER], dir, { PORT: String(port), APP_DB: db, APP_PID_FILE: pidFile.path }).result;
  assert.equal(r.code, 1, r.stderr);
  const out = json(r);
  assert.deepEqual(out.steps.map((s: { step: string; outcome: string }) => `${s.step}:${s.outcome}`), ["backup:skipped", "up:ok", "start:ok", "health:failed", "stop:ok", "revert:ok"]);
  assert.equal(out.state, "pre-deploy");
  assert.equal(out.revertedBy, "remove");
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith("app.db")), []);
});

test("deploy: usage errors before anything runs", async (t) => {
  const p = await project(t, {});
  const cases: [string[], RegExp][] = [
    [[...p.common], /needs the command that starts the app/],
    [[...p.common, "--health-timeout", "soon", "--", "true"], /invalid --health-timeout "soon"/],
    [[...p.common, "--health-url", "localhost:1", "--", "true"], /--health-url must be an http/],
  ];
  for (const [args, pattern] of cases) {
    const r = await deploy(t, args, p.dir, p.env).result;
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
  }
  assert.equal(fs.existsSync(p.out), false, "no backup was taken");
});
