/**
 * Errors name the real cause, not the migration: the database file deleted or replaced under a
 * running `strata up` is reported as such (exit 4), never as "up() of X failed … fix it"; so is
 * a database made read-only under it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { MAIN, TSX_LOADER, json, strata, tempDir, writeFiles } from "./support/cli.ts";

const SLOW = `export async function up(tx) {
  await tx.execute("CREATE TABLE slow (id INTEGER)");
  await new Promise((r) => setTimeout(r, 1500));
  await tx.execute("INSERT INTO slow VALUES (1)");
}
`;

/** `strata up`; once the slow migration runs, `meddle` changes the database file under it. */
function upWhile(cwd: string, meddle: () => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN, "up", "--url", "app.db"], { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let done = false;
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!done && /applying 001_slow/.test(stderr)) {
        done = true;
        setTimeout(meddle, 300);
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test("database file deleted or replaced during up: the message names that, not the migration", async (t) => {
  for (const [what, meddle] of [
    ["deleted", (db: string) => fs.rmSync(db)],
    ["replaced", (db: string) => (fs.writeFileSync(db + ".new", ""), fs.renameSync(db + ".new", db))],
  ] as const) {
    const dir = tempDir(t);
    writeFiles(path.join(dir, "migrations"), { "001_slow.ts": SLOW, "002_b.up.sql": "CREATE TABLE b (x);\n" });
    const r = await upWhile(dir, () => meddle(path.join(dir, "app.db")));
    assert.equal(r.code, 4, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /the database file of file:.*app\.db was deleted, moved or replaced while strata was running/, what);
    assert.doesNotMatch(r.stderr, /SQLITE_READONLY: SQLITE_READONLY/, "no doubled prefix");
    assert.doesNotMatch(r.stderr, /fix it and run again|fix the statement|read-only: /, `${what}: the migration is not blamed`);
  }
});

const ROOT_MOUNTS = process.getuid?.() === 0 && process.platform === "linux";

// A folder cannot be remounted read-only while SQLite holds a file in it open for writing
// (EBUSY), so the database is read-only from the start; the write that fails is the lock's.
test("a read-only database: named as read-only once (no doubled SQLITE_READONLY prefix), exit 1, no migration blamed", { skip: !ROOT_MOUNTS && "needs root to mount a folder read-only (root ignores file modes)" }, async (t) => {
  const dir = tempDir(t);
  const ro = path.join(dir, "ro");
  fs.mkdirSync(ro);
  writeFiles(path.join(dir, "migrations"), { "000_first.up.sql": "CREATE TABLE first (x);\n" });
  assert.equal((await strata(["up", "--url", "ro/app.db", "--quiet"], { cwd: dir })).code, 0);
  writeFiles(path.join(dir, "migrations"), { "001_slow.ts": SLOW, "002_b.up.sql": "CREATE TABLE b (x);\n" });
  const mounted = spawnSync("mount", ["--bind", ro, ro]);
  if (mounted.status !== 0) return t.skip(`bind mount failed: ${mounted.stderr}`);
  // Unmounted here, before the temp folder is removed (a t.after hook would run after that).
  let text, asJson;
  try {
    assert.equal(spawnSync("mount", ["-o", "remount,ro,bind", ro]).status, 0);
    [text, asJson] = await Promise.all([
      strata(["up", "--url", "ro/app.db"], { cwd: dir }),
      strata(["up", "--url", "ro/app.db", "--json"], { cwd: dir }),
    ]);
  } finally {
    spawnSync("umount", [ro]);
  }
  assert.equal(text.code, 1, text.stderr);
  assert.match(text.stderr, /file:.*ro\/app\.db is read-only: attempt to write a readonly database — check file and directory permissions/);
  assert.doesNotMatch(text.stderr, /SQLITE_READONLY/, "no SQLite code prefix, let alone a doubled one");
  assert.doesNotMatch(text.stderr, /001_slow|002_b|fix it and run again|fix the statement/, "no migration is blamed");
  const e = json(asJson).error;
  assert.equal(e.details.errorClass, "read-only");
  assert.equal(e.message.match(/read-only/g).length, 1);
});
