/**
 * Unattended operation: concurrent runners, kill -9 at random moments, integrity guards.
 * (Remote variants live in remote.test.ts.)
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
import { ensureBinary } from "./support/build.ts";
import { openDb, runCommand, tempDir, userSchema, writeFiles } from "./support/cli.ts";

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
