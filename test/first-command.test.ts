/**
 * The README's first command on a fresh copy of the project: `npm ci && npm start`. It applies
 * migrations/ to ./calendar_app.db and leaves `bin/strata` built (npm runs the `prepare`
 * script, which is the build), so the rest of the README works as written once bin/ is on PATH —
 * no hidden build step, no `npx tsx`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { json, ROOT, runCommand, tempDir } from "./support/cli.ts";

test("npm ci && npm start on a copy of the project: the calendar history applied, bin/strata built and usable", { timeout: 240_000 }, async (t) => {
  const dir = tempDir(t);
  // What a clone holds: the tracked files (node_modules and bin/strata are not among them).
  const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
  for (const f of tracked) {
    if (!fs.existsSync(path.join(ROOT, f))) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  }
  assert.equal(fs.existsSync(path.join(dir, "bin/strata")), false);
  const env = { PATH: `${path.join(dir, "bin")}:${process.env["PATH"]}` };

  const install = await runCommand("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, env, timeoutMs: 200_000 });
  assert.equal(install.code, 0, install.stdout + install.stderr);
  const start = await runCommand("npm", ["start"], { cwd: dir, env, timeoutMs: 60_000 });
  assert.equal(start.code, 0, start.stdout + start.stderr);

  // `strata` as the README calls it, from bin/ on PATH, reads what `npm start` applied.
  const versions = fs.readdirSync(path.join(dir, "migrations")).filter((f) => /^\d+_/.test(f)).map((f) => f.split("_")[0]!);
  const s = json(await runCommand("strata", ["status", "--url", "file:calendar_app.db", "--json"], { cwd: dir, env }));
  assert.deepEqual(s.pending, []);
  assert.deepEqual(new Set(s.applied.map((a: { version: string }) => a.version)), new Set(versions));
});
