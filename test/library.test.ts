/**
 * strata as a library: a scratch project that depends on the package by name
 * (`import { migrate } from "strata"`, resolved through package.json `exports`) migrates a
 * database on Node (tsx) and on Deno, and sees typed results and StrataError.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { CALENDAR_MIGRATIONS, ROOT, runCommand, tempDir, TSX_LOADER, type RunResult } from "./support/cli.ts";

const DENO = path.join(ROOT, "node_modules/.bin/deno");

const APP = `import { migrate, rollback, status, StrataError, ExitCode, type MigrateResult } from "strata";

const opts = { url: "file:app.db", dir: "./migrations" };
const first: MigrateResult = await migrate(opts);
const again = await migrate(opts);
const back = await rollback({ ...opts, step: 2 });
const after = await status(opts);
let error = "";
try {
  await migrate({ ...opts, to: "nope" });
} catch (e) {
  if (e instanceof StrataError) error = e.kind + ":" + e.exitCode + ":" + (e.exitCode === ExitCode.usage);
}
console.log(JSON.stringify({
  applied: first.steps.map((s) => s.outcome + " " + s.version),
  noop: again.steps.length,
  reverted: back.steps.map((s) => s.version),
  pending: after.pending.map((m) => m.version),
  error,
}));
`;

/** A project with only the app, the calendar migrations and node_modules/strata → this repo. */
function scratchProject(t: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(t, "strata-lib-");
  fs.mkdirSync(path.join(dir, "node_modules"));
  fs.symlinkSync(ROOT, path.join(dir, "node_modules", "strata"), "dir");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "app", type: "module", dependencies: { strata: "*" } }));
  fs.writeFileSync(path.join(dir, "app.ts"), APP);
  fs.cpSync(CALENDAR_MIGRATIONS, path.join(dir, "migrations"), { recursive: true });
  return dir;
}

function check(r: RunResult): void {
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
  const versions = fs.readdirSync(CALENDAR_MIGRATIONS).map((f) => f.split("_")[0]!);
  const all = [...new Set(versions)].sort();
  assert.deepEqual(out.applied, all.map((v) => `applied ${v}`));
  assert.equal(out.noop, 0);
  assert.deepEqual(out.reverted, all.slice(-2).reverse());
  assert.deepEqual(out.pending, all.slice(-2));
  assert.equal(out.error, "usage:2:true");
}

test("library: import { migrate } from \"strata\" in a scratch project on Node (tsx)", async (t) => {
  const dir = scratchProject(t);
  check(await runCommand(process.execPath, ["--import", TSX_LOADER, "app.ts"], { cwd: dir }));
});

test("library: the same scratch project on Deno", async (t) => {
  const dir = scratchProject(t);
  const cache = tempDir(t);
  check(
    await runCommand(DENO, ["run", "-A", "--quiet", "--node-modules-dir=manual", "app.ts"], {
      cwd: dir,
      env: { DENO_DIR: cache, DENO_NO_UPDATE_CHECK: "1" },
      timeoutMs: 120_000,
    }),
  );
});
