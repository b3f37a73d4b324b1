/**
 * One CLI scenario — new, up, status, down with an SQL and a TS migration — run three ways:
 * from source on Node (tsx), from source on Deno, and through the compiled bin/strata.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { json, MAIN, ROOT, runCommand, strata, tempDir, type RunResult } from "./support/cli.ts";
import { ensureBinary } from "./support/build.ts";

type Runner = (args: string[], cwd: string, tmp: string) => Promise<RunResult>;

const DENO = path.join(ROOT, "node_modules/.bin/deno");

const runners: Record<string, Runner> = {
  "node (tsx)": (args, cwd) => strata(args, { cwd }),
  deno: (args, cwd, tmp) =>
    runCommand(DENO, ["run", "-A", "--quiet", "--node-modules-dir=manual", MAIN, ...args], {
      cwd,
      env: { DENO_DIR: path.join(tmp, "deno-cache"), DENO_NO_UPDATE_CHECK: "1" },
    }),
  binary: (args, cwd, tmp) => runCommand(ensureBinary(), args, { cwd, cleanEnv: true, env: { PATH: "/bin", HOME: tmp, TMPDIR: tmp } }),
};

async function scenario(run: Runner, t: Parameters<typeof tempDir>[0]): Promise<void> {
  const dir = tempDir(t);
  const tmp = tempDir(t);
  // `new` only writes files, so it takes no database URL; every other verb is pointed at app.db.
  const ok = async (args: string[]) => {
    const r = await run(args[0] === "new" ? args : [...args, "--url", "app.db"], dir, tmp);
    assert.equal(r.code, 0, `strata ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    return r;
  };
  const sqlNew = await ok(["new", "create notes"]);
  const [up, down] = sqlNew.stdout.trim().split("\n");
  fs.appendFileSync(up!, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n");
  fs.appendFileSync(down!, "DROP TABLE notes;\n");
  const tsNew = await ok(["new", "seed notes", "--ts"]);
  const tsFile = tsNew.stdout.trim();
  assert.match(path.basename(tsFile), /^\d{14}_seed_notes\.ts$/);
  let source = fs.readFileSync(tsFile, "utf8");
  source = source
    .replace(/\/\/ await tx\.execute\("…"\);\n  throw new Error\("write the up migration"\);/, `await tx.batch([{ sql: "INSERT INTO notes (body) VALUES (?)", args: ["hello"] }, "INSERT INTO notes (body) VALUES ('world')"]);`)
    .replace(/\/\/ await tx\.execute\("…"\);\n  throw new Error\("write the down migration"\);/, `await tx.execute("DELETE FROM notes");`);
  fs.writeFileSync(tsFile, source);

  await ok(["up"]);
  const s = json(await ok(["status", "--json"]));
  assert.equal(s.applied.length, 2);
  assert.equal(s.pending.length, 0);
  const c = json(await ok(["current", "--json"]));
  assert.equal(c.isHead, true);
  await ok(["down"]);
  assert.equal(json(await ok(["status", "--json"])).pending.length, 1);
  await ok(["down"]);
  const final = json(await ok(["status", "--json"]));
  assert.equal(final.applied.length, 0);
  assert.equal(final.pending.length, 2);
}

for (const [name, run] of Object.entries(runners)) {
  test(`smoke: new, up, status, down with SQL and TS migrations — ${name}`, (t) => scenario(run, t));
}
