/**
 * Backups and restores killed with SIGKILL (a cron timeout, a systemd stop) at random points:
 * their temp files are removed by the next normal run, which says so, and the database is intact.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { createClient } from "@libsql/client";
import { ROOT, TSX_LOADER, json, runCommand, tempDir } from "./support/cli.ts";
import { ops, opsEntry } from "./fixtures/app/cli.ts";

const TEMP = /\.strata-tmp(-journal|-wal|-shm)?$/;

function temps(...dirs: string[]): string[] {
  return dirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => TEMP.test(f)).map((f) => path.join(d, f)) : []));
}

/** Runs the CLI and SIGKILLs it a random moment after its first temp file appears. */
async function killMidway(args: string[], dirs: string[], cwd: string): Promise<boolean> {
  const child = spawn(process.execPath, ["--import", TSX_LOADER, opsEntry(), ...args], { cwd, stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  let done = false;
  void exited.then(() => (done = true));
  while (!done && temps(...dirs).length === 0) await new Promise((r) => setTimeout(r, 2));
  if (!done) {
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 120)));
    child.kill("SIGKILL");
  }
  await exited;
  return temps(...dirs).length > 0;
}

test("SIGKILL at random points of backup and restore, then one normal run of each: no temp file is left, the database is intact", async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, "app.db");
  const out = path.join(dir, "backups");
  // Written by a child: a connection this process closed keeps its file open until GC, and the
  // restores below would rightly refuse a database another process has open.
  const made = await runCommand(process.execPath, ["--import", TSX_LOADER, "--input-type=module", "-e", `import { createClient } from "@libsql/client";
const c = createClient({ url: ${JSON.stringify("file:" + db)} });
await c.batch(["CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)", "CREATE INDEX ix_blobs ON blobs (data)",
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) INSERT INTO blobs SELECT i, randomblob(3000) FROM n"], "write");`], { cwd: ROOT });
  assert.equal(made.code, 0, made.stderr);
  const first = json(await ops(["backup", "--url", db, "--out", out, "--json"], { cwd: dir }));

  let leftovers = 0;
  for (let i = 0; i < 3; i++) if (await killMidway(["backup", "--url", db, "--out", out], [out, dir], dir)) leftovers++;
  for (let i = 0; i < 3; i++) if (await killMidway(["restore", first.path, "--url", db, "--out", out, "--yes"], [out, dir], dir)) leftovers++;
  t.diagnostic(`${leftovers} of 6 killed runs left temp files: ${temps(out, dir).map((f) => path.basename(f)).join(", ")}`);
  assert.ok(leftovers > 0, "the kills must have hit runs that had temp files");

  // Each killed run already swept the leftovers of the ones before it; the last one's remain
  // (unless it was killed after cleaning up).
  const left = temps(out, dir);
  const b = await ops(["backup", "--url", db, "--out", out, "--json"], { cwd: dir });
  assert.equal(b.code, 0, b.stderr);
  if (left.length > 0) {
    assert.match(b.stderr, /removed \d+ stale temp files? \([\d.]+ [KMG]?B\) left by killed strata runs/);
    assert.deepEqual(json(b).tempFiles.removed.sort(), left.sort());
  }
  const r = await ops(["restore", first.path, "--url", db, "--out", out, "--yes", "--json"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(temps(out, dir), [], "no temp file (nor its -journal/-wal) is left");
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith("app.db-")), [], "no side file of the database");

  const check = createClient({ url: "file:" + db });
  t.after(() => check.close());
  assert.equal(String((await check.execute("PRAGMA integrity_check")).rows[0]![0]), "ok");
  assert.equal(Number((await check.execute("SELECT count(*) FROM blobs")).rows[0]![0]), 1500);
});
