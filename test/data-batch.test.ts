/**
 * updateInBatches (issue 14 item 4), the helper a TS migration receives as up()'s second argument:
 * every row visited and updated exactly once, pages bounded, a failure part-way rolls back every
 * page with the migration, gaps in the rowids and WITHOUT ROWID tables work, what it cannot page
 * is refused before anything is written. Correctness only; the speed is measured in bench/.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { createClient } from "@libsql/client";
import { up } from "../src/commands/migrate.ts";
import { updateInBatches } from "../src/index.ts";
import { StrataError } from "../src/errors.ts";
import { openDb, tempDir, writeFiles } from "./support/cli.ts";
import { NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";

type T = Parameters<typeof tempDir>[0];

/** A project whose only migration is a TS one with `body` as up(tx, helpers); `setup` is run on the database first. */
async function project(t: T, setup: string, body: string) {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(dir, { "package.json": `{ "type": "module" }\n` });
  writeFiles(mdir, { "001_data.ts": `export async function up(tx, helpers) {\n${body}\n}\n` });
  const file = path.join(dir, "app.db");
  const db = openDb(t, file);
  await db.executeMultiple(setup);
  return { mdir, file, db };
}

const rows = async (db: ReturnType<typeof openDb>, sql: string) => (await db.execute(sql)).rows.map((r) => ({ ...r }));
const versions = async (db: ReturnType<typeof openDb>) =>
  (await db.execute("SELECT version FROM strata_migrations")).rows.map((r) => String(r["version"]));

// Rowids with gaps (every third deleted, a jump to 1,000,000) and pages smaller than the table.
const GAPPY = `
  CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0, note TEXT);
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2500) INSERT INTO items (id, v) SELECT i, i FROM c;
  DELETE FROM items WHERE id % 3 = 0;
  INSERT INTO items (id, v) VALUES (1000000, 1000000), (1000001, 1000001);
`;

test("every row is updated exactly once, in bounded pages, across gaps in the rowids; quotes in values stay data", async (t) => {
  const p = await project(
    t,
    GAPPY,
    `  const seen = new Set();
  const r = await helpers.updateInBatches({
    table: "items", read: ["v", "hits"], set: ["hits", "note"], batchSize: 97,
    update(row) {
      if (seen.has(row.id)) throw new Error("row " + row.id + " visited twice");
      seen.add(row.id);
      return { hits: row.hits + 1, note: "it's \\"v\\"=" + row.v + " ü\\\\ '); DROP TABLE items; --" };
    },
  });
  await tx.execute({ sql: "CREATE TABLE result (visited, updated, pages)", args: [] });
  await tx.execute({ sql: "INSERT INTO result VALUES (?, ?, ?)", args: [r.visited, r.updated, r.pages] });`,
  );
  const r = await up({ url: p.file, dir: p.mdir });
  assert.deepEqual(r.steps.map((s) => s.outcome), ["applied"]);
  const total = Number((await p.db.execute("SELECT count(*) FROM items")).rows[0]![0]);
  assert.equal(total, 2500 - 833 + 2);
  assert.deepEqual(await rows(p.db, `SELECT count(*) AS n FROM items WHERE hits = 1 AND note = 'it''s "v"=' || v || ' ü\\ ''); DROP TABLE items; --'`), [{ n: total }]);
  assert.deepEqual(await rows(p.db, "SELECT visited, updated, pages FROM result"), [{ visited: total, updated: total, pages: Math.ceil(total / 97) }]);
  assert.deepEqual(await versions(p.db), ["001"]);
});

test("a failure part-way rolls back every page already written, and the version row", async (t) => {
  const p = await project(
    t,
    GAPPY,
    `  await helpers.updateInBatches({
    table: "items", set: ["v"], batchSize: 100,
    update(row) {
      if (row.id === 1999) throw new Error("bad row 1999");
      return { v: -row.v };
    },
  });`,
  );
  const before = await rows(p.db, "SELECT id, v, hits, note FROM items ORDER BY id");
  await assert.rejects(up({ url: p.file, dir: p.mdir }), /bad row 1999/);
  assert.deepEqual(await rows(p.db, "SELECT id, v, hits, note FROM items ORDER BY id"), before, "no page of the failed run is left");
  assert.deepEqual(await versions(p.db), []);
});

test("WITHOUT ROWID tables page by their primary key (text here); where and skipped rows are honoured", async (t) => {
  const p = await project(
    t,
    `CREATE TABLE tags (name TEXT PRIMARY KEY, n INTEGER NOT NULL, label TEXT) WITHOUT ROWID;
     WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000)
     INSERT INTO tags SELECT printf('tag-%04d', i), i, NULL FROM c;`,
    `  await helpers.updateInBatches({
    table: "tags", read: ["n"], set: ["label"], batchSize: 64, where: "n <= 900",
    update: (row) => (row.n % 2 === 0 ? { label: row.name.toUpperCase() + "/" + row.n } : null),
  });`,
  );
  await up({ url: p.file, dir: p.mdir });
  assert.deepEqual(await rows(p.db, "SELECT count(*) AS n FROM tags WHERE label IS NOT NULL"), [{ n: 450 }]);
  assert.deepEqual(await rows(p.db, "SELECT count(*) AS n FROM tags WHERE label = upper(name) || '/' || n AND n % 2 = 0 AND n <= 900"), [{ n: 450 }]);
});

test("a table without an INTEGER PRIMARY KEY pages by its rowid (rows carry it as rowid)", async (t) => {
  const file = path.join(tempDir(t), "r.db");
  const db = createClient({ url: "file:" + file });
  t.after(() => db.close());
  await db.executeMultiple(`CREATE TABLE logs (msg TEXT, n INTEGER);
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) INSERT INTO logs SELECT 'm' || i, 0 FROM c;
    DELETE FROM logs WHERE rowid BETWEEN 50 AND 150;`);
  const tx = await db.transaction("write");
  const r = await updateInBatches(tx, { table: "logs", read: ["msg"], set: ["n"], batchSize: 16, update: (row) => ({ n: Number(row["rowid"]) }) });
  await tx.commit();
  assert.deepEqual([r.visited, r.updated, r.pages], [199, 199, 13]);
  assert.deepEqual((await db.execute("SELECT count(*) FROM logs WHERE n = rowid AND msg = 'm' || rowid")).rows[0]![0], 199);
});

test("a key without affinity keeps 5 and '5' apart; values: NaN as NULL, safe bigints, several columns", async (t) => {
  const file = path.join(tempDir(t), "k.db");
  const db = createClient({ url: "file:" + file });
  t.after(() => db.close());
  await db.executeMultiple(`CREATE TABLE loose (k PRIMARY KEY, a, b) WITHOUT ROWID;
    INSERT INTO loose VALUES (5, 1, 1), ('5', 2, 2), ('x''y', 3, 3);`);
  const tx = await db.transaction("write");
  const r = await updateInBatches(tx, { table: "loose", read: ["a"], set: ["a", "b"], batchSize: 2, update: (row) => ({ a: Number(row["a"]) * 10, b: row["a"] === 3 ? Number.NaN : 7n }) });
  await tx.commit();
  assert.deepEqual([r.visited, r.updated, r.pages], [3, 3, 2]);
  const got = (await db.execute("SELECT typeof(k), k, a, b FROM loose ORDER BY a")).rows.map((x) => [x[0], x[1], x[2], x[3]]);
  assert.deepEqual(got, [["integer", 5, 10, 7], ["text", "5", 20, 7], ["text", "x'y", 30, null]]);
});

test("runs of consecutive integer keys (negative, REAL-valued, broken by gaps and skipped rows) update exactly their rows", async (t) => {
  const file = path.join(tempDir(t), "runs.db");
  const db = createClient({ url: "file:" + file });
  t.after(() => db.close());
  // Rowids -50…1200 with two holes, so pages hold long runs with a break or two; every 100th row
  // is skipped by update(), which breaks a run too; a REAL key column holding whole numbers.
  await db.executeMultiple(`CREATE TABLE seq (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT);
    WITH RECURSIVE c(i) AS (SELECT -50 UNION ALL SELECT i + 1 FROM c WHERE i < 1200) INSERT INTO seq (id, a) SELECT i, i FROM c;
    DELETE FROM seq WHERE id IN (7, 500);
    CREATE TABLE reals (k REAL PRIMARY KEY, v INTEGER) WITHOUT ROWID;
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) INSERT INTO reals SELECT i, 0 FROM c;`);
  const tx = await db.transaction("write");
  const r = await updateInBatches(tx, {
    table: "seq", read: ["a"], set: ["a", "b"], batchSize: 400,
    update: (row) => (Number(row["id"]) % 100 === 0 ? null : { a: Number(row["a"]) * 2, b: "it's " + String(row["id"]) }),
  });
  const real = await updateInBatches(tx, { table: "reals", set: ["v"], batchSize: 128, update: (row) => ({ v: Number(row["k"]) + 1 }) });
  await tx.commit();
  const total = 1251 - 2;
  assert.deepEqual([r.visited, r.updated, r.pages], [total, total - 12, Math.ceil(total / 400)]);
  const mismatched = await db.execute(`SELECT count(*) FROM seq WHERE CASE WHEN id % 100 = 0 THEN a <> id OR b IS NOT NULL ELSE a <> id * 2 OR b IS NOT 'it''s ' || id END`);
  assert.equal(mismatched.rows[0]![0], 0);
  assert.deepEqual([real.visited, real.updated], [300, 300]);
  assert.equal((await db.execute("SELECT count(*) FROM reals WHERE v = k + 1 AND typeof(k) = 'real'")).rows[0]![0], 300);
});

test("what it cannot page is refused before anything is written", async (t) => {
  const file = path.join(tempDir(t), "x.db");
  const db = createClient({ url: "file:" + file });
  t.after(() => db.close());
  await db.executeMultiple(`
    CREATE TABLE pairs (a INTEGER, b INTEGER, v INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID;
    INSERT INTO pairs VALUES (1, 1, 1);
    CREATE TABLE plain (id INTEGER PRIMARY KEY, v INTEGER, b BLOB);
    INSERT INTO plain VALUES (1, 1, NULL), (2, 2, NULL);
    CREATE VIEW vw AS SELECT * FROM plain;
  `);
  const refused = async (options: Parameters<typeof updateInBatches>[1], pattern: RegExp) => {
    await assert.rejects(updateInBatches(db, options), (e: unknown) => e instanceof StrataError && e.kind === "migrations" && pattern.test(e.message));
  };
  const bump = (row: Record<string, unknown>) => ({ v: Number(row["v"]) + 1 });
  await refused({ table: "pairs", set: ["v"], update: bump }, /WITHOUT ROWID table with a 2-column primary key/);
  await refused({ table: "nope", set: ["v"], update: bump }, /no table named "nope"/);
  await refused({ table: "vw", set: ["v"], update: bump }, /no table named "vw"/);
  await refused({ table: "plain", set: ["missing"], update: bump }, /no column "missing"/);
  await refused({ table: "plain", set: ["id"], update: bump }, /cannot change the key/);
  await refused({ table: "plain", set: ["v"], batchSize: 0, update: bump }, /batchSize must be/);
  await refused({ table: "plain", set: ["v", "b"], update: (row) => ({ v: 1, b: new Uint8Array([1]) as never }) }, /BLOB values cannot be written/);
  await refused({ table: "plain", set: ["v", "b"], update: () => ({ v: 1 }) }, /returned no value for "b"/);
  assert.deepEqual((await db.execute("SELECT id, v FROM plain ORDER BY id")).rows.map((r) => [r[0], r[1]]), [[1, 1], [2, 2]]);
});

let server: Sqld | undefined;
before(async () => {
  if (!NO_SQLD) server = await startSqld();
});
after(() => server?.stop());

test("remote (sqld): the same helper pages through the guarded transaction", { skip: NO_SQLD }, async (t) => {
  const remote = await server!.freshDatabase(t);
  await remote.client.executeMultiple(GAPPY);
  const dir = tempDir(t);
  writeFiles(dir, { "package.json": `{ "type": "module" }\n` });
  writeFiles(path.join(dir, "m"), {
    // items has a gap every third row (written keyed); runs has none (written as runs).
    "001_data.ts": `export async function up(tx, { updateInBatches }) {
  await updateInBatches({ table: "items", set: ["hits"], batchSize: 500, update: (r) => ({ hits: 7 }) });
  await tx.executeMultiple("CREATE TABLE runs (id INTEGER PRIMARY KEY, v INTEGER); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1500) INSERT INTO runs SELECT i, i FROM c;");
  await updateInBatches({ table: "runs", set: ["v"], batchSize: 700, update: (r) => ({ v: r.v * 3 }) });
}\n`,
  });
  const r = await up({ url: remote.url, authToken: remote.token, dir: path.join(dir, "m") });
  assert.deepEqual(r.steps.map((s) => s.outcome), ["applied"]);
  assert.deepEqual((await remote.client.execute("SELECT count(*), min(hits), max(hits) FROM items")).rows.map((x) => [x[0], x[1], x[2]]), [[1669, 7, 7]]);
  assert.deepEqual((await remote.client.execute("SELECT count(*) FROM runs WHERE v = id * 3")).rows[0]![0], 1500);
});
