/**
 * SIGTERM / SIGINT during `strata up`: the migration in flight finishes, no further one starts,
 * the lock is released, the audit row written, exit 143 / 130; a second signal stops at once and
 * the next run takes the dead runner's lock over (`status` says it is stale).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { MAIN, TSX_LOADER, json, openDb, strata, tempDir, writeFiles } from "./support/cli.ts";

const FILES = {
  // Awaits between its statements, as a data migration does: signals arrive while it runs.
  "001_slow.ts": `export async function up(tx) {
  await tx.execute("CREATE TABLE slow (id INTEGER)");
  await new Promise((r) => setTimeout(r, 1500));
  await tx.execute("INSERT INTO slow VALUES (1)");
}
export async function down(tx) { await tx.execute("DROP TABLE slow"); }
`,
  "002_next.up.sql": "CREATE TABLE next (id INTEGER);\n",
  "002_next.down.sql": "DROP TABLE next;\n",
};

/** Runs `strata up`, sends `signals` (100 ms apart) once the slow migration has started. */
function upWithSignals(cwd: string, signals: NodeJS.Signals[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN, "up", "--url", "app.db"], { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!sent && /applying 001_slow/.test(stderr)) {
        sent = true;
        signals.forEach((s, i) => setTimeout(() => child.kill(s), 300 + i * 100));
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function count(db: ReturnType<typeof openDb>, sql: string): Promise<number> {
  return Number((await db.execute(sql)).rows[0]![0]);
}

test("SIGTERM during up: the migration in flight commits, the next never starts, lock released, audit row, exit 143", async (t) => {
  const dir = tempDir(t);
  writeFiles(path.join(dir, "migrations"), FILES);
  const r = await upWithSignals(dir, ["SIGTERM"]);
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stderr, /SIGTERM received: stopping once the migration in flight has committed or rolled back/);
  assert.match(r.stderr, /interrupted: no further migration was started/);
  const db = openDb(t, path.join(dir, "app.db"));
  assert.deepEqual((await db.execute("SELECT version FROM strata_migrations")).rows.map((x) => x.version), ["001"]);
  assert.equal(await count(db, "SELECT count(*) FROM slow"), 1, "the migration in flight completed");
  assert.equal(await count(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'next'"), 0);
  assert.equal(await count(db, "SELECT count(*) FROM strata_migrations_lock"), 0, "lock released");
  const log = (await db.execute("SELECT result, message FROM strata_migrations_log ORDER BY rowid DESC LIMIT 1")).rows[0]!;
  assert.equal(log.result, "error");
  assert.match(String(log.message), /interrupted/);
});

test("SIGINT twice: stops at once (exit 130), nothing half-applied; status calls the dead runner's lock stale; up takes it over", async (t) => {
  const dir = tempDir(t);
  writeFiles(path.join(dir, "migrations"), FILES);
  const r = await upWithSignals(dir, ["SIGINT", "SIGINT"]);
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /second SIGINT: stopping at once/);
  const db = openDb(t, path.join(dir, "app.db"));
  assert.equal(await count(db, "SELECT count(*) FROM strata_migrations"), 0, "the migration in flight rolled back");
  assert.equal(await count(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'slow'"), 0);
  db.close();
  const [text, st] = await Promise.all([strata(["status", "--url", "app.db"], { cwd: dir }), strata(["status", "--url", "app.db", "--json"], { cwd: dir })]);
  assert.match(text.stdout, /lock: held by .* — STALE \(process is gone\): the next run takes it over/);
  assert.equal(json(st).lock.stale, "process is gone");
  const again = await strata(["up", "--url", "app.db"], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /took over a stale lock/);
});
