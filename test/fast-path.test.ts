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
import { openDb, runCommand, strata, tempDir, writeFiles, type RunResult } from "./support/cli.ts";
import { ensureBinary } from "./support/build.ts";
import { ChecksumCache } from "../src/script/fingerprints.ts";
import { compareVersions, discoverMigrations } from "../src/script/discover.ts";
import { reconcile, reconcileByVersion } from "../src/runtime/plan.ts";
import type { AppliedRow } from "../src/runtime/store.ts";

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
      // One folder: its checksums, and the listing the no-op runs reused.
      const cacheFiles = fs.readdirSync(path.join(dir, "cache", "strata")).sort();
      assert.equal(cacheFiles.length, 2);
      assert.match(cacheFiles[0]!, /^checksums-/);
      assert.match(cacheFiles[1]!, /^listing-/);
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
      for (const f of cacheFiles) fs.writeFileSync(path.join(dir, "cache", "strata", f), "{not json");
      assert.deepEqual(JSON.parse((await ok(["status", "--json"])).stdout).changed, ["20240101000002"]);
    });
  }

  for (const [name, run] of Object.entries(runners)) {
    test(`an up that applies, fails or has no URL runs the same up verb on both paths — ${name}`, async (t) => {
      // One folder per path, the same files: what each prints (with its folder, the timings and
      // the runner's identity masked) and what each leaves in its database must be the same.
      const files = {
        ...MIGRATIONS,
        "20240101000004_broken.up.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);\nINSERT INTO missing_table VALUES (1);\n",
      };
      const mask = (text: string, dir: string) =>
        untimed(text.split(dir).join("<dir>"))
          .replace(/"(durationMs|duration_ms)": \d+/g, '"$1": 0')
          .replace(/\bin \d+ ms\b/g, "in 0 ms")
          .replace(/[\d.]+ s elapsed/g, "0 s elapsed");
      const outcome = async (args: string[], env: Record<string, string>, withUrl = true) => {
        const dir = tempDir(t);
        writeFiles(path.join(dir, "migrations"), files);
        const r = await run(withUrl ? [...args, "--url", "app.db"] : args, dir, { XDG_CACHE_HOME: path.join(dir, "cache"), NO_COLOR: "1", ...env });
        const db = path.join(dir, "app.db");
        let versions: string[] = [];
        if (fs.existsSync(db)) {
          const client = openDb(t, db);
          versions = (await client.execute("SELECT version FROM strata_migrations ORDER BY version")).rows.map((row) => String(row[0]));
        }
        return { code: r.code, stdout: mask(r.stdout, dir), stderr: mask(r.stderr, dir), versions };
      };
      for (const [args, withUrl] of [[["up"], true], [["up", "--json"], true], [["up", "-q"], true], [["up"], false]] as [string[], boolean][]) {
        const fast = await outcome(args, {}, withUrl);
        const full = await outcome(args, { STRATA_FAST_PATH: "off" }, withUrl);
        assert.deepEqual(fast, full, `strata ${args.join(" ")}${withUrl ? "" : " (no URL)"}`);
        if (withUrl) {
          // The three good ones committed, the broken one did not; its file and line are named.
          assert.equal(fast.code, 1);
          assert.deepEqual(fast.versions, ["20240101000001", "20240101000002", "20240101000003"]);
          assert.match(fast.stderr + fast.stdout, /20240101000004_broken\.up\.sql:2/);
        } else {
          assert.equal(fast.code, 2, fast.stderr);
          assert.match(fast.stderr, /DATABASE_URL/);
        }
      }
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
    const value = cache.get(file, [file], [fs.statSync(file)], compute).checksum;
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
  const cacheFiles = fs.readdirSync(path.join(cacheHome, "strata")).map((n) => path.join(cacheHome, "strata", n));
  const listingFile = cacheFiles.find((f) => path.basename(f).startsWith("listing-"))!;
  const data = JSON.parse(fs.readFileSync(listingFile, "utf8"));
  assert.equal(data.names.split("/").length, 3);
  assert.equal(data.stamps.length, 3 * 4, "one stamp for each of the three files");
  // Mark every listed checksum: what discovery returns then shows where it came from.
  for (const f of data.items) f.checksum = `marked-${f.checksum}`;
  fs.writeFileSync(listingFile, JSON.stringify(data));
  const reused = discoverMigrations(dir);
  assert.deepEqual(reused, first.map((f) => ({ ...f, checksum: `marked-${f.checksum}` })));
  assert.equal(reused[0]!.downPath, first[0]!.downPath);
  // The same shape either way: a TS module without `down` has no downPath key in both.
  writeFiles(dir, { "0002_b.ts": "export async function up() {}\n" });
  await new Promise((r) => setTimeout(r, 2100));
  const walked = discoverMigrations(dir);
  const listedAgain = discoverMigrations(dir);
  assert.ok(!("downPath" in walked[1]!) && !("downPath" in listedAgain[1]!));
  assert.deepEqual(listedAgain, walked);
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
  // So is an edited down file: it is part of the migration's checksum.
  await new Promise((r) => setTimeout(r, 2100));
  const settled = discoverMigrations(dir);
  assert.deepEqual(discoverMigrations(dir), settled);
  fs.appendFileSync(path.join(dir, "0001_a.down.sql"), "-- edited\n");
  assert.notEqual(discoverMigrations(dir)[0]!.checksum, settled[0]!.checksum);
  // A new file: a new listing.
  fs.writeFileSync(path.join(dir, "0003_c.up.sql"), "SELECT 1;\n");
  assert.deepEqual(discoverMigrations(dir).map((f) => f.version), ["0001", "0002", "0003"]);
});

test("reconcile's one-pass path for rows in file order agrees with the general path", () => {
  // A small deterministic generator: files, rows for some of them (a changed checksum, a
  // started one, a spelling with leading zeros), rows with no file; in order and shuffled.
  let seed = 7;
  let inOrder = 0;
  // Whether the rows line up with the files as the one-pass path needs (a prefix, spelled alike).
  const reconcileInOrderApplies = (files: { version: string }[], rows: AppliedRow[]) => rows.length <= files.length && rows.every((r, i) => r.version === files[i]!.version);
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) >>> 16) % n;
  for (let round = 0; round < 400; round++) {
    const width = rand(3) === 0 ? 0 : 4;
    const count = rand(7);
    const versions = [...new Set(Array.from({ length: count }, () => String(1 + rand(40))))]
      .sort((a, b) => Number(a) - Number(b))
      .map((v) => (width ? v.padStart(width, "0") : v));
    const files = versions.map((version) => ({ version, name: `m${version}`, kind: "sql" as const, upPath: `/m/${version}.up.sql`, checksum: `c${version}` }));
    const rows: AppliedRow[] = [];
    // Half the rounds as after runs of `up` in order: the first k files applied, the rest pending.
    const prefix = rand(2) === 0 ? rand(files.length + 1) : -1;
    for (const [i, f] of files.entries()) {
      const pick = prefix >= 0 ? (i < prefix ? 2 + rand(4) : 0) : rand(6);
      if (pick === 0) continue; // pending
      const version = pick === 1 ? `0${f.version}` : f.version;
      rows.push({ version, name: f.name, checksum: pick === 2 ? "edited" : f.checksum, appliedAt: "2024-01-01T00:00:00.000Z", durationMs: 1, state: pick === 3 ? "started" : "applied" });
    }
    if (rand(4) === 0) rows.push({ version: String(50 + rand(9)), name: "gone", checksum: "x", appliedAt: "2024-01-01T00:00:00.000Z", durationMs: 1, state: "applied" });
    // As selectApplied() orders them (by the text), and reversed.
    const ordered = [...rows].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
    if (reconcileInOrderApplies(files, ordered)) inOrder++;
    for (const given of [ordered, [...ordered].reverse()]) {
      assert.deepEqual(reconcile(files, given), reconcileByVersion(files, given), JSON.stringify({ files: versions, rows: given.map((r) => r.version) }));
    }
  }
  assert.ok(inOrder > 100, `the one-pass path was taken in ${inOrder} of 400 rounds`);
});
