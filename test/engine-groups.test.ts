/**
 * Bulk apply on a local file: consecutive SQL migrations share one write transaction with a
 * SAVEPOINT each (src/runtime/savepoint-group.ts). Each migration still succeeds or fails as a
 * unit: a failure leaves the earlier ones applied, the later ones pending, and names the file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { up } from "../src/commands/migrate.ts";
import { GROUP_LIMITS } from "../src/runtime/savepoint-group.ts";
import { contents } from "./support/db-contents.ts";
import { openDb, rejectsWith, tempDir, writeFiles } from "./support/cli.ts";

const v = (i: number) => String(i).padStart(3, "0");

/** n migrations: a table referencing t001, an index, two rows; `override` replaces some bodies. */
function migrations(n: number, override: Record<number, string> = {}): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    files[`${v(i)}_m${i}.up.sql`] = override[i] ?? `CREATE TABLE t${v(i)} (id INTEGER PRIMARY KEY, p INTEGER REFERENCES t001 (id));\nCREATE INDEX t${v(i)}_p ON t${v(i)} (p);\nINSERT INTO t${v(i)} (id, p) VALUES (1, 1), (2, NULL);\n`;
  }
  return files;
}

function setup(t: Parameters<typeof tempDir>[0], files: Record<string, string>) {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, files);
  return { dir, mdir, file: path.join(dir, "app.db") };
}

/** Everything but the columns that differ between runs (times, runner ids) and the audit log. */
async function comparable(t: Parameters<typeof tempDir>[0], file: string) {
  const db = openDb(t, file);
  const all = await contents(db);
  const versions = (await db.execute("SELECT version, name, checksum, state FROM strata_migrations ORDER BY version")).rows.map((r) => Object.values(r).join(" "));
  const guard = Number((await db.execute("SELECT count(*) FROM strata_migrations_guard")).rows[0]![0]);
  db.close();
  return { user: Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith("strata_"))), versions, guard };
}

/** The database as it is after applying exactly the first `n` of `files` (for comparison). */
async function reference(t: Parameters<typeof tempDir>[0], files: Record<string, string>, n: number) {
  const r = setup(t, files);
  await up({ url: r.file, dir: r.mdir, to: v(n) });
  return comparable(t, r.file);
}

for (const [what, body, message] of [
  ["an SQL error", "CREATE TABLE t150 (id INTEGER PRIMARY KEY);\nINSERT INTO t150 VALUES (1);\nINSERT INTO nosuch VALUES (1);\n", /no such table: nosuch/],
  ["a foreign-key violation", "CREATE TABLE t150 (id INTEGER PRIMARY KEY);\nINSERT INTO t001 (id, p) VALUES (99, 12345);\n", /150_m150 would leave new foreign key violations: t001 → t001/],
] as const) {
  test(`migration 150 of 200 fails with ${what}: exactly 149 applied, nothing else changed, the file named`, async (t) => {
    const files = migrations(200, { 150: body });
    const { file, mdir } = setup(t, files);
    const e = await rejectsWith(up({ url: file, dir: mdir }), "sql", message);
    assert.equal(e.file, path.join(mdir, "150_m150.up.sql"));
    if (what === "an SQL error") assert.equal(e.line, 3);
    const got = await comparable(t, file);
    assert.equal(got.versions.length, 149);
    assert.deepEqual(got, await reference(t, files, 149));
  });
}

test("a migration that SQLite rolls back entirely (INSERT OR ROLLBACK) still leaves the ones before it applied", async (t) => {
  const files = migrations(30, { 20: "CREATE TABLE t020 (id INTEGER PRIMARY KEY);\nINSERT INTO t020 VALUES (1);\nINSERT OR ROLLBACK INTO t020 VALUES (1);\n" });
  const { file, mdir } = setup(t, files);
  const e = await rejectsWith(up({ url: file, dir: mdir }), "sql", /UNIQUE constraint failed/);
  assert.equal(e.line, 3);
  assert.deepEqual(await comparable(t, file), await reference(t, files, 19));
});

test("no-transaction migrations run alone between groups (VACUUM fails inside a transaction)", async (t) => {
  const files = migrations(40, { 20: "-- strata:no-transaction\nVACUUM;\n" });
  const { file, mdir } = setup(t, files);
  const r = await up({ url: file, dir: mdir });
  assert.equal(r.steps.length, 40);
  assert.ok(r.steps.every((s) => s.outcome === "applied"));
  assert.equal((await comparable(t, file)).versions.length, 40);
});

test("groups bounded by count and by time still apply everything, in order", async (t) => {
  const saved = { ...GROUP_LIMITS };
  t.after(() => Object.assign(GROUP_LIMITS, saved));
  for (const limits of [{ count: 7 }, { ms: 0 }]) {
    Object.assign(GROUP_LIMITS, saved, limits);
    const files = migrations(25);
    const { file, mdir } = setup(t, files);
    const r = await up({ url: file, dir: mdir });
    assert.deepEqual(r.steps.map((s) => s.version), Array.from({ length: 25 }, (_, i) => v(i + 1)));
    assert.deepEqual(await comparable(t, file), await reference(t, files, 25));
  }
});

test("a violation a trigger writes outside the migration's tables is caught (trigger-aware count)", async (t) => {
  const files = migrations(10, {
    5: "CREATE TABLE audit (id INTEGER PRIMARY KEY, ref INTEGER REFERENCES t001 (id));\nCREATE TABLE t005 (id INTEGER PRIMARY KEY);\nCREATE TRIGGER t005_audit AFTER INSERT ON t005 BEGIN INSERT INTO audit (ref) VALUES (777); END;\nINSERT INTO t005 VALUES (1);\n",
  });
  const { file, mdir } = setup(t, files);
  await rejectsWith(up({ url: file, dir: mdir }), "sql", /005_m5 would leave new foreign key violations: audit → t001/);
  assert.deepEqual(await comparable(t, file), await reference(t, files, 4));
});

test("--single-transaction: a failure names file and line, and nothing is applied", async (t) => {
  const files = migrations(60, { 50: "CREATE TABLE t050 (id INTEGER PRIMARY KEY);\n\nINSERT INTO nosuch VALUES (1);\n" });
  const { file, mdir } = setup(t, files);
  const e = await rejectsWith(up({ url: file, dir: mdir, singleTransaction: true }), "sql", /no such table: nosuch/);
  assert.equal(e.file, path.join(mdir, "050_m50.up.sql"));
  assert.equal(e.line, 3);
  const got = await comparable(t, file);
  assert.deepEqual(got.versions, []);
  assert.equal(got.guard, 0);
  assert.deepEqual(Object.keys(got.user), ["#schema"]);
  assert.ok((got.user["#schema"] as string[]).every((s) => / strata_migrations/.test(s)), "no user object was left");
});

test("an abort during a group starts no further migration of it; the ones done commit and the run says interrupted", async (t) => {
  const { Engine } = await import("../src/runtime/migrator.ts");
  const { discoverMigrations } = await import("../src/script/discover.ts");
  const { openDatabase } = await import("../src/db/connection.ts");
  const { silentLogger } = await import("../src/output/logger.ts");
  const { file, mdir } = setup(t, migrations(20));
  const db = await openDatabase("file:" + file, { create: true });
  t.after(() => db.close());
  const engine = new Engine({ db, table: "strata_migrations", logger: silentLogger, lockTimeoutMs: 1000 });
  await db.client.batch(engine.store.createTables(), "write");
  const items = discoverMigrations(mdir).map((f) => ({ file: f, direction: "up" as const }));
  const abort = new AbortController();
  const results: unknown[] = [];
  // The group is announced before its first migration starts: abort right then.
  await rejectsWith(engine.runSteps(items, () => abort.abort(), results as never, abort.signal), "interrupted", /no further migration was started/);
  assert.equal(results.length, 1);
  assert.deepEqual((await comparable(t, file)).versions.length, 1);
});
