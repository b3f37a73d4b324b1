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

/**
 * The binary copies libSQL's native module out of itself before dlopen can map it. On servers
 * with /tmp mounted noexec, a missing TMPDIR or a full one it must fall back to the per-user cache
 * (~/.cache/strata), and when nothing allows it, exit 4 naming the variable to set — not fail
 * with "failed to map segment from shared object". Real mounts need root.
 */
function mountSkipReason(): string | undefined {
  if (process.platform !== "linux") return "noexec mounts are a Linux test";
  if (process.getuid?.() !== 0) return "mounting a noexec tmpfs needs root";
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), "strata-mount-probe-"));
  try {
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { encoding: "utf8" });
    if (m.status !== 0) return `cannot mount a tmpfs here: ${(m.stderr || m.error?.message || "").trim()}`;
    spawnSync("umount", [probe]);
    return undefined;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

describe("bin/strata where TMPDIR does not allow the native module", { skip: mountSkipReason() }, () => {
  let sandbox = "";
  const mounts: string[] = [];
  let strata = "";

  function mount(name: string, options: string): string {
    const dir = path.join(sandbox, name);
    fs.mkdirSync(dir);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { encoding: "utf8" });
    assert.equal(m.status, 0, `mount ${options} ${dir}: ${m.stderr}`);
    mounts.push(dir);
    return dir;
  }

  before(() => {
    const built = ensureBinary();
    sandbox = fs.mkdtempSync(path.join(os.tmpdir(), "strata-noexec-test-"));
    fs.cpSync(path.join(repoRoot, "migrations"), path.join(sandbox, "migrations"), { recursive: true });
    strata = path.join(sandbox, "strata");
    fs.copyFileSync(built, strata);
    fs.chmodSync(strata, 0o755);
  });

  after(() => {
    for (const dir of mounts.reverse()) spawnSync("umount", [dir]);
    if (sandbox) fs.rmSync(sandbox, { recursive: true, force: true });
  });

  function run(binary: string, tmpdir: string, extraEnv: Record<string, string>, args: string[]): RunResult & { home: string; db: string } {
    const home = fs.mkdtempSync(path.join(sandbox, "home-"));
    const db = path.join(home, "app.db");
    const env = { PATH: "/bin", HOME: home, TMPDIR: tmpdir, ...extraEnv };
    const all = [...args, "--url", `file:${db}`, "--dir", path.join(sandbox, "migrations")];
    const r = spawnSync(binary, all, { cwd: home, env, encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
    if (r.error) throw new Error(`strata ${all.join(" ")}: ${r.error.message}`);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, home, db };
  }

  /** up works and the module was placed in ~/.cache/strata. */
  async function upFallsBackToCache(tmpdir: string): Promise<void> {
    const r = run(strata, tmpdir, {}, ["up", "--quiet"]);
    assert.equal(r.code, 0, describeRun(["up"], r));
    const cached = fs.readdirSync(path.join(r.home, ".cache", "strata"));
    assert.ok(cached.some((f) => /^libsql-[0-9a-f]{16}\.node$/.test(f)), `no module in ~/.cache/strata: ${cached.join(", ")}`);
    const rows = await withDb(r.db, async (db) => (await db.execute("SELECT count(*) FROM strata_migrations")).rows[0]![0]);
    assert.equal(Number(rows), migrationVersions(path.join(sandbox, "migrations")).size);
  }

  test("TMPDIR on a noexec mount: falls back to ~/.cache/strata", async () => {
    await upFallsBackToCache(mount("noexec", "noexec,size=64m"));
  });

  test("TMPDIR missing: falls back to ~/.cache/strata", async () => {
    await upFallsBackToCache(path.join(sandbox, "no-such-dir"));
  });

  test("TMPDIR full: falls back to ~/.cache/strata", async () => {
    await upFallsBackToCache(mount("full", "size=1m"));
  });

  test("nowhere allowed: exit 4 naming TMPDIR and XDG_CACHE_HOME, database untouched", () => {
    const noexec = mount("noexec-all", "noexec,size=64m");
    // The binary in a read-only directory, so "next to the executable" is refused too.
    const ro = mount("ro-bin", "size=256m");
    fs.copyFileSync(strata, path.join(ro, "strata"));
    fs.chmodSync(path.join(ro, "strata"), 0o755);
    const remount = spawnSync("mount", ["-o", "remount,ro", ro], { encoding: "utf8" });
    assert.equal(remount.status, 0, remount.stderr);

    const env = { XDG_CACHE_HOME: path.join(noexec, "cache") };
    const text = run(path.join(ro, "strata"), noexec, env, ["up"]);
    assert.equal(text.code, 4, describeRun(["up"], text));
    assert.match(text.stderr, /TMPDIR \(.*\): does not allow running code \(mounted noexec\?\)/, text.stderr);
    assert.match(text.stderr, /set TMPDIR \(or XDG_CACHE_HOME\)/, text.stderr);
    assert.ok(!fs.existsSync(text.db), "a database was created although strata could not run");

    const json = run(path.join(ro, "strata"), noexec, env, ["status", "--json"]);
    assert.equal(json.code, 4, describeRun(["status", "--json"], json));
    const parsed = JSON.parse(json.stdout) as { ok: boolean; error: { exitCode: number; hint: string } };
    assert.equal(parsed.ok, false);
    assert.equal(parsed.error.exitCode, 4);
    assert.match(parsed.error.hint, /TMPDIR/);
  });
});
