/**
 * Errors name the real cause, not the migration: the database file deleted or replaced under a
 * running `strata up` is reported as such (exit 4), never as "up() of X failed … fix it".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { MAIN, TSX_LOADER, tempDir, writeFiles } from "./support/cli.ts";

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
