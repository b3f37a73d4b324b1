/**
 * The start-up fast path (src/cli/fast.ts) and the checksum cache (src/script/fingerprints.ts):
 * a no-op `up` and `status` print exactly what the full CLI prints (STRATA_FAST_PATH=off), from
 * source on Node and through the compiled binary (bun:sqlite); a changed file is still seen as
 * changed when its size and mtime are put back; a corrupt cache is ignored.
 */
import { before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { runCommand, strata, tempDir, writeFiles, type RunResult } from "./support/cli.ts";
import { ensureBinary } from "./support/build.ts";
import { ChecksumCache } from "../src/script/fingerprints.ts";
import { compareVersions, discoverMigrations } from "../src/script/discover.ts";

const MIGRATIONS = {
  "20240101000001_create_notes.up.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n",
  "20240101000001_create_notes.down.sql": "DROP TABLE notes;\n",
  "20240101000002_index_notes.up.sql": "CREATE INDEX notes_body ON notes (body);\n",
  "20240101000003_seed.ts": `import type { Transaction } from "@libsql/client";\nexport async function up(tx: Transaction): Promise<void> {\n  await tx.execute("INSERT INTO notes (body) VALUES ('hi')");\n}\nexport async function down(tx: Transaction): Promise<void> {\n  await tx.execute("DELETE FROM notes");\n}\n`,
};

type Runner = (args: string[], cwd: string, env: Record<string, string>) => Promise<RunResult>;

const runners: Record<string, Runner> = {
  "node (tsx)": (args, cwd, env) => strata(args, { cwd, env }),
  binary: (args, cwd, env) => runCommand(ensureBinary(), args, { cwd, cleanEnv: true, env: { PATH: "/bin", HOME: cwd, TMPDIR: cwd, ...env } }),
};

/** Log lines start with an ISO timestamp outside a terminal: equal runs differ only there. */
const untimed = (s: string) => s.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /gm, "");

describe("fast path", () => {
  before(() => ensureBinary());

  for (const [name, run] of Object.entries(runners)) {
    test(`no-op up and status print what the full CLI prints — ${name}`, async (t) => {
      const dir = tempDir(t);
      writeFiles(path.join(dir, "migrations"), MIGRATIONS);
      const env = { XDG_CACHE_HOME: path.join(dir, "cache"), NO_COLOR: "1" };
      const ok = async (args: string[], extra: Record<string, string> = {}, code = 0) => {
        const r = await run([...args, "--url", "app.db"], dir, { ...env, ...extra });
        assert.equal(r.code, code, `strata ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
        return r;
      };
      // Pending: `status --exit-code` says 3 on both paths.
      for (const which of [{}, { STRATA_FAST_PATH: "off" }] as Record<string, string>[]) {
        const r = await ok(["status", "--exit-code", "--json"], which, 3);
        assert.equal(JSON.parse(r.stdout).pending.length, 3);
      }
      await ok(["up"]);
      // The cache takes files only once they are older than the racy window.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      // From source each run costs a Node start: fewer forms there.
      const forms = name === "binary" ? [["up"], ["up", "--json"], ["upgrade", "-q"], ["status"], ["status", "--json"], ["status", "--exit-code", "--quiet"]] : [["up"], ["status", "--json"]];
      for (const args of forms) {
        const fast = await ok(args);
        const full = await ok(args, { STRATA_FAST_PATH: "off" });
        assert.equal(fast.stdout, full.stdout, `stdout of strata ${args.join(" ")}`);
        assert.equal(untimed(fast.stderr), untimed(full.stderr), `stderr of strata ${args.join(" ")}`);
      }
      const cacheFiles = fs.readdirSync(path.join(dir, "cache", "strata"));
      assert.equal(cacheFiles.length, 1);
      const cached = JSON.parse(fs.readFileSync(path.join(dir, "cache", "strata", cacheFiles[0]!), "utf8"));
      assert.equal(Object.keys(cached.entries).length, 3, "every migration is remembered");

      // An edit that keeps the size and the mtime is still an edit (its ctime moved).
      const file = path.join(dir, "migrations", "20240101000002_index_notes.up.sql");
      const before = fs.statSync(file);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("notes_body", "notes_bodx"));
      fs.utimesSync(file, before.atime, before.mtime);
      assert.equal(fs.statSync(file).size, before.size);
      const s = JSON.parse((await ok(["status", "--json"])).stdout);
      assert.deepEqual(s.changed, ["20240101000002"]);
      const up = await ok(["up"], {}, 1);
      assert.match(up.stderr, /20240101000002/);

      // A corrupt cache is ignored, not trusted.
      fs.writeFileSync(path.join(dir, "cache", "strata", cacheFiles[0]!), "{not json");
      assert.deepEqual(JSON.parse((await ok(["status", "--json"])).stdout).changed, ["20240101000002"]);
    });
  }

  test("binary: a database with a libSQL vector index is read right", async (t) => {
    const dir = tempDir(t);
    writeFiles(path.join(dir, "migrations"), {
      "20240101000001_vectors.up.sql": "CREATE TABLE docs (id INTEGER PRIMARY KEY, embedding F32_BLOB(3));\nCREATE INDEX docs_embedding ON docs (libsql_vector_idx(embedding));\nINSERT INTO docs (embedding) VALUES (vector('[1,2,3]'));\n",
    });
    const run = runners["binary"]!;
    const env = { XDG_CACHE_HOME: path.join(dir, "cache") };
    assert.equal((await run(["up", "--url", "app.db"], dir, env)).code, 0);
    for (const args of [["up"], ["status", "--json"]]) {
      const fast = await run([...args, "--url", "app.db"], dir, env);
      const full = await run([...args, "--url", "app.db"], dir, { ...env, STRATA_FAST_PATH: "off" });
      assert.equal(fast.code, 0, fast.stderr);
      assert.equal(fast.stdout, full.stdout);
    }
  });
});

/** Points the checksum cache at a temp dir for one test (never the user's ~/.cache). */
function useCacheHome(t: TestContext): string {
  const cacheHome = tempDir(t);
  const saved = process.env["XDG_CACHE_HOME"];
  process.env["XDG_CACHE_HOME"] = cacheHome;
  t.after(() => {
    if (saved === undefined) delete process.env["XDG_CACHE_HOME"];
    else process.env["XDG_CACHE_HOME"] = saved;
  });
  return cacheHome;
}

test("checksum cache: unchanged files are not read again; a changed or fresh one is", (t) => {
  const dir = tempDir(t);
  const cacheHome = useCacheHome(t);
  const file = path.join(dir, "a.sql");
  fs.writeFileSync(file, "one");
  let reads = 0;
  const compute = () => (reads++, { checksum: `sum-${fs.readFileSync(file, "utf8")}` });
  const get = (racyMs?: number) => {
    const cache = ChecksumCache.for(dir, racyMs);
    const value = cache.get(file, [fs.statSync(file)], compute).checksum;
    cache.save();
    return value;
  };
  // Just written: inside the racy window, so read every time and never remembered.
  assert.equal(get(), "sum-one");
  assert.equal(get(), "sum-one");
  assert.equal(reads, 2);
  assert.equal(fs.existsSync(path.join(cacheHome, "strata")), false);
  // Remembered (window shortened for the test), then not read again.
  assert.equal(get(0), "sum-one");
  assert.equal(get(0), "sum-one");
  assert.equal(reads, 3);
  // Same size, mtime put back: the ctime moved, so it is read again.
  const before = fs.statSync(file);
  fs.writeFileSync(file, "two");
  fs.utimesSync(file, before.atime, before.mtime);
  assert.equal(get(0), "sum-two");
  assert.equal(reads, 4);
});

test("compareVersions orders digit strings numerically, leading zeros ignored", () => {
  assert.equal(compareVersions("0042", "42"), 0);
  assert.equal(compareVersions("9", "10"), -1);
  assert.equal(compareVersions("20240101000010", "20240101000009"), 1);
  assert.equal(compareVersions("123456789012345678901234567890", "123456789012345678901234567891"), -1);
  assert.equal(compareVersions("0", "000"), 0);
});

test("discovery reuses the folder's last listing only while names and file identities are unchanged", async (t) => {
  const dir = tempDir(t);
  const cacheHome = useCacheHome(t);
  writeFiles(dir, {
    "0001_a.up.sql": "CREATE TABLE a (x);\n",
    "0001_a.down.sql": "DROP TABLE a;\n",
    "0002_b.ts": "export async function up() {}\nexport async function down() {}\n",
  });
  // Files changed within the last 2 s are never remembered (coarse file-system clocks).
  await new Promise((r) => setTimeout(r, 2100));
  const first = discoverMigrations(dir);
  const [cacheFile] = fs.readdirSync(path.join(cacheHome, "strata")).map((n) => path.join(cacheHome, "strata", n));
  const data = JSON.parse(fs.readFileSync(cacheFile!, "utf8"));
  assert.equal(data.listing.names.length, 3);
  // Mark every remembered checksum: what discovery returns then shows where it came from.
  for (const e of Object.values(data.entries) as { checksum: string }[]) e.checksum = `marked-${e.checksum}`;
  for (const f of data.listing.files) f.checksum = `marked-${f.checksum}`;
  fs.writeFileSync(cacheFile!, JSON.stringify(data));
  const reused = discoverMigrations(dir);
  assert.deepEqual(reused, first.map((f) => ({ ...f, checksum: `marked-${f.checksum}` })));
  assert.equal(reused[0]!.downPath, first[0]!.downPath);
  assert.ok("downPath" in reused[0]! && "downPath" in reused[1]!);
  // Another spelling of the folder: the listing's paths are not this run's, so it is not used.
  const relative = path.relative(process.cwd(), dir);
  const other = discoverMigrations(relative);
  assert.equal(other[0]!.upPath, path.join(relative, "0001_a.up.sql"));
  assert.ok(!other[0]!.checksum.startsWith("marked-"));
  // An edited file is read again (its neighbour's remembered checksum still applies).
  fs.appendFileSync(path.join(dir, "0001_a.up.sql"), "-- edited\n");
  const edited = discoverMigrations(dir);
  assert.notEqual(edited[0]!.checksum, first[0]!.checksum);
  assert.ok(!edited[0]!.checksum.startsWith("marked-"));
  // A new file: a new listing.
  fs.writeFileSync(path.join(dir, "0003_c.up.sql"), "SELECT 1;\n");
  assert.deepEqual(discoverMigrations(dir).map((f) => f.version), ["0001", "0002", "0003"]);
});
