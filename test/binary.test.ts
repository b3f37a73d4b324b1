/**
 * End-to-end tests of the compiled executable, bin/strata (built first if missing or stale).
 *
 * The binary is copied into an empty temp directory with a copy of migrations/ and run with an
 * almost empty environment, so it cannot lean on the repo, node_modules or the caller's env.
 *
 * Tests named "CLI contract: …" exercise commands that the CLI in src/ implements; they state the
 * contract the binary must meet (up / status --json / down --to base / failing TS migration) and
 * fail, loudly, until the CLI meets it.
 *
 *   node --import tsx --test test/binary.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { createClient, type Client } from "@libsql/client";
import { ensureBinary, repoRoot } from "./support/build.ts";

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };

/** Same naming as the migration discovery in src/script/discover.ts. */
const MIGRATION_FILE = /^(\d+)_[A-Za-z0-9][A-Za-z0-9_.-]*?\.(?:up\.sql|down\.sql|ts|mts)$/;
const BROKEN_MIGRATION = "20990101000000_broken.ts";

/** The Bun target build.ts picks for this machine by default. */
function hostBunTarget(): string {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  const musl = process.platform === "linux" && !report.header?.glibcVersionRuntime ? "-musl" : "";
  return `bun-${process.platform}-${process.arch}${musl}`;
}

/** Versions (file-name prefixes) of the migrations in `dir`: one strata_migrations row each once applied. */
function migrationVersions(dir: string): Set<string> {
  const versions = new Set<string>();
  for (const name of fs.readdirSync(dir)) {
    const m = MIGRATION_FILE.exec(name);
    if (m) versions.add(m[1]!);
  }
  return versions;
}

interface RunResult { code: number | null; stdout: string; stderr: string }

function describeRun(args: string[], r: RunResult): string {
  return `strata ${args.join(" ")} -> exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

async function withDb<T>(file: string, fn: (db: Client) => Promise<T>): Promise<T> {
  const db = createClient({ url: `file:${file}` });
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

/** Names of the non-internal schema objects with the table they belong to. */
async function schemaObjects(file: string): Promise<{ type: string; name: string; table: string }[]> {
  return withDb(file, async (db) => {
    const rs = await db.execute("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
    return rs.rows.map((r) => ({ type: String(r[0]), name: String(r[1]), table: String(r[2]) }));
  });
}

/**
 * What a failed `up` must leave alone: the schema, every user table's rows and the applied
 * migrations. Strata's own journal tables (strata_migrations_log, the lock table…) are left out of
 * the row comparison: recording the failed attempt there is intended.
 */
async function snapshot(file: string): Promise<{ schema: string[]; rows: Record<string, string[]> }> {
  return withDb(file, async (db) => {
    const objects = await db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name");
    const schema = objects.rows.map((r) => `${String(r[0])} ${String(r[1])}: ${String(r[2])}`);
    const rows: Record<string, string[]> = {};
    for (const r of objects.rows) {
      const name = String(r[1]);
      if (r[0] !== "table" || name.startsWith("sqlite_")) continue;
      if (name.startsWith("strata_") && name !== "strata_migrations") continue;
      const rs = await db.execute(`SELECT * FROM "${name.replaceAll('"', '""')}"`);
      rows[name] = rs.rows
        .map((row) => JSON.stringify(rs.columns.map((_, i) => row[i]), (_key, v: unknown) =>
          v instanceof ArrayBuffer ? Buffer.from(v).toString("hex") : typeof v === "bigint" ? v.toString() : v))
        .sort();
    }
    return { schema, rows };
  });
}

describe("bin/strata (compiled binary)", () => {
  let sandbox = "";
  let strata = "";
  let env: NodeJS.ProcessEnv = {};

  before(() => {
    const built = ensureBinary();
    sandbox = fs.mkdtempSync(path.join(os.tmpdir(), "strata-binary-test-"));
    strata = path.join(sandbox, "strata");
    fs.copyFileSync(built, strata);
    fs.chmodSync(strata, 0o755);
    fs.cpSync(path.join(repoRoot, "migrations"), path.join(sandbox, "migrations"), { recursive: true });
    fs.mkdirSync(path.join(sandbox, "tmp"));
    // The `env -i PATH=/bin HOME=<tmp>` of a bare machine, plus TMPDIR: the binary unpacks its
    // embedded libSQL native module into $TMPDIR (/tmp by default) and leaves it there as a
    // cache; pointing TMPDIR into the sandbox keeps this test from leaving files behind.
    env = { PATH: "/bin", HOME: sandbox, TMPDIR: path.join(sandbox, "tmp") };
  });

  after(() => {
    if (sandbox) fs.rmSync(sandbox, { recursive: true, force: true });
  });

  function run(args: string[]): RunResult {
    const r = spawnSync(strata, args, { cwd: sandbox, env, encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
    if (r.error) throw new Error(`strata ${args.join(" ")}: ${r.error.message}`);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function runOk(args: string[]): RunResult {
    const r = run(args);
    assert.equal(r.code, 0, describeRun(args, r));
    return r;
  }

  /** A fresh folder in the sandbox with its own copy of migrations/ and a database path. */
  function workspace(name: string): { dir: string; db: string; target: string[] } {
    const root = path.join(sandbox, name);
    const dir = path.join(root, "migrations");
    fs.cpSync(path.join(sandbox, "migrations"), dir, { recursive: true });
    const db = path.join(root, "app.db");
    return { dir, db, target: ["--url", `file:${db}`, "--dir", dir] };
  }

  function status(target: string[]): { pending: unknown[]; applied: unknown[] } {
    const args = ["status", "--json", ...target];
    const r = runOk(args);
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      assert.fail(`status --json did not print JSON\n${describeRun(args, r)}`);
    }
    const s = parsed as { pending?: unknown; applied?: unknown };
    assert.ok(Array.isArray(s.pending) && Array.isArray(s.applied), `status --json lacks pending/applied arrays\n${r.stdout}`);
    return { pending: s.pending as unknown[], applied: s.applied as unknown[] };
  }

  test("--version prints version, commit and target", () => {
    const r = runOk(["--version"]);
    assert.ok(r.stdout.includes(pkg.version), `no version ${pkg.version} in:\n${r.stdout}`);
    assert.ok(r.stdout.includes(hostBunTarget()), `no target ${hostBunTarget()} in:\n${r.stdout}`);
    // The commit is baked in at build time: a short hash, or "unknown" when built outside git.
    // "dev" is what a source checkout reports, so seeing it means the build info was not injected.
    assert.match(r.stdout, /\b(?:[0-9a-f]{7,40}|unknown)\b/, `no commit in:\n${r.stdout}`);
    assert.doesNotMatch(r.stdout, /\bdev\b/, `build info not injected:\n${r.stdout}`);
  });

  test("CLI contract: up applies every migration; status --json shows nothing pending", async () => {
    const ws = workspace("up");
    const versions = migrationVersions(ws.dir);
    assert.ok(versions.size > 0, "the repo's migrations/ folder has no migrations to apply");

    runOk(["up", ...ws.target]);

    const s = status(ws.target);
    assert.deepEqual(s.pending, []);
    assert.equal(s.applied.length, versions.size, `applied: ${JSON.stringify(s.applied)}`);
    const rows = await withDb(ws.db, async (db) => (await db.execute("SELECT count(*) FROM strata_migrations")).rows[0]![0]);
    assert.equal(Number(rows), versions.size, "strata_migrations should hold one row per migration version");
  });

  test("CLI contract: down --to base leaves only strata_* tables", async () => {
    const ws = workspace("down");
    runOk(["up", ...ws.target]);
    runOk(["down", "--to", "base", ...ws.target]);

    const leftovers = (await schemaObjects(ws.db)).filter((o) => !o.table.startsWith("strata_"));
    assert.deepEqual(leftovers, [], "schema objects outside strata_* survived down --to base");
    assert.deepEqual(status(ws.target).applied, []);
  });

  test("CLI contract: a TS migration with a syntax error exits 1, names the file, changes nothing", async () => {
    const ws = workspace("broken");
    runOk(["up", ...ws.target]);
    const beforeUp = await snapshot(ws.db);

    fs.writeFileSync(path.join(ws.dir, BROKEN_MIGRATION), 'export async function up(tx) { tx.execute("x" \n');
    const args = ["up", ...ws.target];
    const r = run(args);
    assert.equal(r.code, 1, describeRun(args, r));
    assert.ok(r.stderr.includes(BROKEN_MIGRATION), `stderr does not name ${BROKEN_MIGRATION}\n${describeRun(args, r)}`);
    assert.deepEqual(await snapshot(ws.db), beforeUp, "the failed up changed the database");
  });
});
