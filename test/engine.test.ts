/**
 * The engine through its library API (src/index.ts): real SQLite files in temp folders.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { down, redo, up } from "../src/commands/migrate.ts";
import { current, history, status } from "../src/commands/inspect.ts";
import { resolve, stamp } from "../src/commands/record.ts";
import { newMigration } from "../src/commands/new.ts";
import { copyCalendar, openDb, rejectsWith, tempDir, userSchema, writeFiles } from "./support/cli.ts";

function setup(t: Parameters<typeof tempDir>[0], files: Record<string, string | Buffer>) {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, files);
  const file = path.join(dir, "app.db");
  return { dir, mdir, file, opts: { url: file, dir: mdir } };
}

const THREE = {
  "001_one.up.sql": "CREATE TABLE one (id INTEGER PRIMARY KEY, v TEXT);\n",
  "001_one.down.sql": "DROP TABLE one;\n",
  "002_two.up.sql": "CREATE TABLE two (id INTEGER PRIMARY KEY);\n",
  "002_two.down.sql": "DROP TABLE two;\n",
  "003_three.up.sql": "CREATE TABLE three (id INTEGER PRIMARY KEY);\n",
  "003_three.down.sql": "DROP TABLE three;\n",
};

async function tables(t: Parameters<typeof tempDir>[0], file: string): Promise<string[]> {
  const db = openDb(t, file);
  const rs = await db.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'strata_%' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  return rs.rows.map((r) => String(r.name));
}


test("up applies everything in order, records version rows with checksum, applied_at and duration", async (t) => {
  const { file, opts } = setup(t, THREE);
  const r = await up(opts);
  assert.deepEqual(r.steps.map((s) => [s.version, s.outcome]), [["001", "applied"], ["002", "applied"], ["003", "applied"]]);
  assert.equal(r.from, null);
  assert.equal(r.to, "003");
  const db = openDb(t, file);
  const rows = (await db.execute("SELECT version, name, checksum, applied_at, duration_ms, state FROM strata_migrations ORDER BY version")).rows;
  assert.equal(rows.length, 3);
  for (const row of rows) {
    assert.match(String(row.checksum), /^[0-9a-f]{64}$/);
    assert.match(String(row.applied_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof row.duration_ms, "number");
    assert.equal(row.state, "applied");
  }
  const again = await up(opts);
  assert.equal(again.steps.length, 0);
});

test("REV forms: --to version, prefix, +N, -N, head, base, --step", async (t) => {
  const { file, opts } = setup(t, THREE);
  assert.equal((await up({ ...opts, to: "001" })).to, "001");
  assert.equal((await up({ ...opts, to: "+1" })).to, "002");
  assert.equal((await down({ ...opts, to: "-1" })).to, "001");
  assert.equal((await up({ ...opts, step: 1 })).to, "002");
  assert.equal((await up({ ...opts, to: "head" })).to, "003");
  assert.equal((await down(opts)).to, "002", "down reverts one step by default");
  assert.equal((await down({ ...opts, step: 2 })).to, null);
  assert.equal((await up({ ...opts, to: "00" + "3".slice(0, 0) + "2" })).to, "002");
  assert.equal((await down({ ...opts, to: "base" })).to, null);
  assert.deepEqual(await tables(t, file), []);
  await rejectsWith(up({ ...opts, to: "0" }), "usage", /ambiguous/);
  await rejectsWith(up({ ...opts, to: "999" }), "usage", /names no migration/);
  await rejectsWith(up({ ...opts, to: "nope" }), "usage", /invalid revision/);
  await rejectsWith(down({ ...opts, to: "-1" }), "usage", /out of range/);
  await rejectsWith(up({ ...opts, to: "head", step: 1 }), "usage", /cannot be combined/);
  await rejectsWith(up({ ...opts, step: 0 }), "usage", /positive/);
});

test("a failing statement rolls back its whole migration and reports file, line, statement and SQLite's message", async (t) => {
  const { file, mdir, opts } = setup(t, {
    ...THREE,
    "002_two.up.sql": "CREATE TABLE two (id INTEGER PRIMARY KEY);\nINSERT INTO two VALUES (1);\n\n-- a typo\nINSERT INTO nosuch VALUES (1);\n",
  });
  const e = await rejectsWith(up(opts), "sql", /no such table: nosuch/);
  assert.equal(e.file, path.join(mdir, "002_two.up.sql"));
  assert.equal(e.line, 5);
  assert.match(e.message, /INSERT INTO nosuch/);
  assert.deepEqual(await tables(t, file), ["one"], "001 stays applied, 002 left no partial change");
  const s = await status(opts);
  assert.deepEqual(s.applied.map((m) => m.version), ["001"]);
  assert.deepEqual(s.pending.map((m) => m.version), ["002", "003"]);
});

test("malformed folders fail before anything runs, naming the files", async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["duplicate version", { "001_a.up.sql": "SELECT 1;", "001_b.up.sql": "SELECT 1;" }, /version 001 is used twice/],
    ["same number, other spelling", { "1_a.up.sql": "SELECT 1;", "001_a.up.sql": "SELECT 1;" }, /used twice/],
    ["down without up", { "001_a.down.sql": "SELECT 1;" }, /001_a\.down\.sql has no matching \.up\.sql/],
    ["unknown file", { "001_a.up.sql": "SELECT 1;", "notes.txt": "x", "002.sql": "x" }, /unrecognized file\(s\).*002\.sql, notes\.txt/],
    ["ts and sql for one version", { "001_a.up.sql": "SELECT 1;", "001_a.ts": "export async function up() {}" }, /both a \.ts module and \.sql/],
  ];
  for (const [name, files, pattern] of cases) {
    const { file, opts } = setup(t, files);
    await rejectsWith(up(opts), "migrations", pattern).catch((e) => assert.fail(`${name}: ${e}`));
    assert.equal(fs.existsSync(file), false, `${name}: no database file is created`);
  }
  const { opts } = setup(t, {});
  await rejectsWith(up({ ...opts, dir: opts.dir + "/missing" }), "config", /does not exist/);
});

test("changed checksum and missing file are reported by status and block up, with the fixing command", async (t) => {
  const { mdir, opts } = setup(t, THREE);
  await up({ ...opts, to: "002" });
  fs.appendFileSync(path.join(mdir, "001_one.up.sql"), "-- edited\n");
  let s = await status(opts);
  assert.deepEqual(s.changed, ["001"]);
  assert.equal(s.problems.length, 1);
  const e = await rejectsWith(up(opts), "state", /changed since they ran: 001_one\.up\.sql/);
  assert.match(e.hint!, /strata resolve <version> --applied/);
  await resolve({ ...opts, version: "001", as: "applied" });
  assert.deepEqual((await status(opts)).changed, []);

  fs.rmSync(path.join(mdir, "002_two.up.sql"));
  fs.rmSync(path.join(mdir, "002_two.down.sql"));
  s = await status(opts);
  assert.deepEqual(s.missing, ["002"]);
  const m = await rejectsWith(up(opts), "state", /applied migration\(s\) with no file: 002_two/);
  assert.match(m.hint!, /stamp/);
  // The guide's "Can't locate revision" fix: stamp to a known revision.
  const st = await stamp({ ...opts, revision: "001" });
  assert.deepEqual(st.removed, ["002"]);
  assert.deepEqual((await status(opts)).missing, []);
  assert.equal((await up(opts)).to, "003");
});

test("out-of-order pending migrations are reported and refused unless allowed", async (t) => {
  const { mdir, opts } = setup(t, { "001_one.up.sql": THREE["001_one.up.sql"], "003_three.up.sql": THREE["003_three.up.sql"] });
  await up(opts);
  writeFiles(mdir, { "002_two.up.sql": THREE["002_two.up.sql"] });
  const s = await status(opts);
  assert.deepEqual(s.outOfOrder, ["002"]);
  await rejectsWith(up(opts), "state", /older than the newest applied one: 002_two/);
  const r = await up({ ...opts, allowOutOfOrder: true });
  assert.deepEqual(r.steps.map((x) => x.version), ["002"]);
});

test("irreversible migrations stop down with a clear error", async (t) => {
  const { opts } = setup(t, { "001_one.up.sql": THREE["001_one.up.sql"], "002_two.up.sql": THREE["002_two.up.sql"], "002_two.down.sql": "DROP TABLE two;" });
  await up(opts);
  assert.equal((await down(opts)).to, "001");
  await rejectsWith(down(opts), "state", /cannot go down past 001_one: it is irreversible/);
});

test("TS migrations: up/down get a Transaction; a throwing up rolls back; transaction=false runs outside", async (t) => {
  const { file, mdir, opts } = setup(t, {
    "001_t.ts": `export async function up(tx) { await tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); await tx.batch([{ sql: "INSERT INTO t (v) VALUES (?)", args: ["a"] }, "INSERT INTO t (v) VALUES ('b')"]); }
export async function down(tx) { await tx.execute("DROP TABLE t"); }`,
    "002_boom.ts": `export async function up(tx) { await tx.execute("INSERT INTO t (v) VALUES ('c')"); throw new Error("boom in data migration"); }`,
  });
  await rejectsWith(up(opts), "sql", /boom in data migration/);
  const db = openDb(t, file);
  assert.deepEqual((await db.execute("SELECT v FROM t ORDER BY id")).rows.map((r) => r.v), ["a", "b"], "the failed TS migration left no row");
  fs.rmSync(path.join(mdir, "002_boom.ts"));
  writeFiles(mdir, {
    "002_vacuum.ts": `export const transaction = false;\nexport async function up(client) { await client.execute("VACUUM"); }\nexport async function down() {}`,
    "003_nt.up.sql": "-- strata:no-transaction\nVACUUM;\n",
    "003_nt.down.sql": "-- strata:empty\n",
  });
  const r = await up(opts);
  assert.deepEqual(r.steps.map((x) => x.version), ["002", "003"]);
  assert.equal((await down({ ...opts, to: "base" })).to, null);
});

test("transaction control inside a transactional SQL migration is refused before running", async (t) => {
  const { file, opts } = setup(t, { "001_a.up.sql": "BEGIN;\nCREATE TABLE a (id INTEGER);\nCOMMIT;\n" });
  const e = await rejectsWith(up(opts), "migrations", /transaction control "BEGIN"/);
  assert.equal(e.line, 1);
  assert.deepEqual(await tables(t, file), []);
});

test("dry run prints the plan and SQL and changes nothing (not even strata's tables)", async (t) => {
  const { file, opts } = setup(t, THREE);
  const r = await up({ ...opts, dryRun: true });
  assert.equal(r.dryRun, true);
  assert.deepEqual(r.plan.map((p) => p.version), ["001", "002", "003"]);
  assert.deepEqual(r.plan[0]!.statements, ["CREATE TABLE one (id INTEGER PRIMARY KEY, v TEXT)"]);
  assert.equal(fs.existsSync(file), false);
  await up({ ...opts, to: "002" });
  const before = fs.readFileSync(file);
  const d = await down({ ...opts, to: "base", dryRun: true });
  assert.deepEqual(d.plan.map((p) => [p.version, p.direction]), [["002", "down"], ["001", "down"]]);
  assert.equal(d.to, null);
  await redo({ ...opts, dryRun: true });
  await stamp({ ...opts, revision: "head", dryRun: true });
  assert.ok(before.equals(fs.readFileSync(file)), "database file unchanged byte for byte");
});

test("stamp records without running; redo reruns the newest; current and history", async (t) => {
  const { file, opts } = setup(t, THREE);
  const st = await stamp({ ...opts, revision: "002" });
  assert.deepEqual(st.added, ["001", "002"]);
  assert.deepEqual(await tables(t, file), [], "stamp ran nothing");
  assert.equal((await current(opts)).current, "002");
  await stamp({ ...opts, revision: "base" });
  assert.equal((await current(opts)).current, null);
  await up(opts);
  const r = await redo(opts);
  assert.deepEqual(r.steps.map((s) => [s.version, s.direction]), [["003", "down"], ["003", "up"]]);
  const c = await current(opts);
  assert.equal(c.current, "003");
  assert.equal(c.isHead, true);
  const h = await history(opts);
  assert.deepEqual(h.migrations.map((m) => [m.version, m.state]), [["001", "applied"], ["002", "applied"], ["003", "applied"]]);
  const log = await history({ ...opts, log: true });
  assert.deepEqual(log.log!.map((l) => l.command), ["redo", "up", "stamp base", "stamp 002"]);
});

test("new writes SQL pairs and TS modules with a UTC timestamp version and a slug", async (t) => {
  const dir = tempDir(t);
  const mdir = path.join(dir, "m");
  const r = newMigration({ dir: mdir, message: "Add specialist bio field!", now: new Date("2024-02-01T10:00:00Z") });
  assert.equal(r.version, "20240201100000");
  assert.deepEqual(r.files.map((f) => path.basename(f)), ["20240201100000_add_specialist_bio_field.up.sql", "20240201100000_add_specialist_bio_field.down.sql"]);
  const r2 = newMigration({ dir: mdir, message: "data fix", ts: true, now: new Date("2024-02-01T10:00:00Z") });
  assert.equal(r2.version, "20240201100001", "a second migration in the same second gets the next version");
  assert.match(fs.readFileSync(r2.files[0]!, "utf8"), /export async function up\(tx: Transaction\)/);
  assert.throws(() => newMigration({ dir: mdir, message: "!!!" }), /no letters or digits/);
  // A fresh template is refused when run (empty migration = likely mistake).
  const { opts } = setup(t, {});
  await rejectsWith(up({ ...opts, dir: mdir }), "migrations", /has no SQL statements/);
});

test("calendar history: up to head, down to base, up again gives the same schema; rows survive", async (t) => {
  const dir = tempDir(t);
  const mdir = copyCalendar(dir);
  const file = path.join(dir, "calendar_app.db");
  const opts = { url: file, dir: mdir };
  const db = openDb(t, file);

  await up({ ...opts, to: "20240115090000" });
  await db.batch([
    "INSERT INTO specialists (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', NULL)",
    "INSERT INTO clients (name, phone) VALUES ('Cleo', '+100')",
    "INSERT INTO bookings (specialist_id, client_id, client_name, client_phone, starts_at, ends_at, status) VALUES (1, 1, 'Cleo', '+100', '2024-01-20T10:00', '2024-01-20T11:00', 'pending'), (2, 1, 'Cleo', '+100', '2024-01-21T10:00', '2024-01-21T11:00', 'confirmed')",
  ], "write");
  await up({ ...opts, to: "20240320150000" });
  await db.execute("INSERT INTO invoices (booking_id, number, amount_cents) VALUES (1, 'INV-1', 5000)");
  await up(opts);
  const head = await userSchema(db);

  // The data migration set verified from email and kept every row, id and foreign key.
  const specialists = (await db.execute("SELECT id, name, verified FROM specialists ORDER BY id")).rows.map((r) => [r.id, r.name, r.verified]);
  assert.deepEqual(specialists, [[1, "Ada", 1], [2, "Bob", 0]]);
  assert.deepEqual((await db.execute("SELECT id, specialist_id, state FROM bookings ORDER BY id")).rows.map((r) => [r.id, r.specialist_id, r.state]), [[1, 1, "pending"], [2, 2, "confirmed"]]);
  assert.equal((await db.execute("SELECT count(*) AS n FROM invoices")).rows[0]!.n, 1);
  assert.equal((await db.execute("SELECT count(*) AS n FROM pragma_foreign_key_check")).rows[0]!.n, 0);
  const notnull = (await db.execute("SELECT \"notnull\" FROM pragma_table_info('specialists') WHERE name = 'verified'")).rows[0]!.notnull;
  assert.equal(notnull, 1);
  assert.equal((await db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'specialists'")).rows[0]!.seq, 2);

  // Down to just before the rename: rows inserted before survive every step that keeps their table.
  await down({ ...opts, to: "20240301090000" });
  assert.deepEqual((await db.execute("SELECT id, status FROM bookings ORDER BY id")).rows.map((r) => [r.id, r.status]), [[1, "pending"], [2, "confirmed"]]);
  assert.deepEqual((await db.execute("SELECT name FROM specialists ORDER BY id")).rows.map((r) => r.name), ["Ada", "Bob"]);

  await down({ ...opts, to: "base" });
  assert.deepEqual(await userSchema(db), []);
  await up(opts);
  assert.deepEqual(await userSchema(db), head, "same schema after up → down to base → up");
});

test("--single-transaction: all migrations commit together, or none (SQL and TS)", async (t) => {
  const { file, mdir, opts } = setup(t, {
    ...THREE,
    "004_bad.up.sql": "CREATE TABLE four (id INTEGER);\nINSERT INTO nosuch VALUES (1);\n",
  });
  const e = await rejectsWith(up({ ...opts, singleTransaction: true }), "sql", /no such table: nosuch/);
  assert.equal(e.line, 2);
  assert.match(e.file!, /004_bad\.up\.sql$/);
  assert.match(e.hint!, /every migration of this --single-transaction run was rolled back/);
  assert.deepEqual(await tables(t, file), [], "nothing committed");
  fs.rmSync(path.join(mdir, "004_bad.up.sql"));
  const r = await up({ ...opts, singleTransaction: true });
  assert.deepEqual(r.steps.map((x) => x.version), ["001", "002", "003"]);
  assert.deepEqual(await tables(t, file), ["one", "three", "two"]);
  writeFiles(mdir, { "004_data.ts": `export async function up(tx) { await tx.execute("INSERT INTO one (v) VALUES ('x')"); }\nexport async function down(tx) { await tx.execute("DELETE FROM one"); }` });
  await down({ ...opts, to: "base", singleTransaction: true });
  assert.deepEqual(await tables(t, file), []);
  const mixed = await up({ ...opts, singleTransaction: true });
  assert.equal(mixed.steps.length, 4);
  const db = openDb(t, file);
  assert.equal((await db.execute("SELECT count(*) AS n FROM one")).rows[0]!.n, 1);
});

test("a TS migration with a syntax error: clear error naming the file and line; database unchanged", async (t) => {
  const { file, mdir, opts } = setup(t, { ...THREE });
  await up({ ...opts, to: "002" });
  writeFiles(mdir, { "004_broken.ts": 'export async function up(tx) {\n  await tx.execute("SELECT 1";\n}\n' });
  const before = fs.readFileSync(file);
  const e = await rejectsWith(up(opts), "migrations", /cannot load 004_broken\.ts/);
  assert.equal(e.file, path.join(mdir, "004_broken.ts"));
  assert.equal(e.line, 2);
  assert.deepEqual(await tables(t, file), ["one", "two"], "003 was not applied either: every pending step loads before the first runs");
  const db = openDb(t, file);
  assert.equal((await db.execute("SELECT count(*) AS n FROM strata_migrations_log WHERE result = 'error'")).rows[0]!.n, 0, "no audit entry for refused input");
  db.close();
  assert.equal(before.length > 0, true);
});

test("a database that refuses to turn foreign-key enforcement off: the migration stops before changing anything", async (t) => {
  const { Engine } = await import("../src/runtime/migrator.ts");
  const { discoverMigrations } = await import("../src/script/discover.ts");
  const { openDatabase } = await import("../src/db/connection.ts");
  const { silentLogger } = await import("../src/output/logger.ts");
  const { file, mdir } = setup(t, {
    "001_parent.up.sql": "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent (id) ON DELETE CASCADE);\nINSERT INTO parent VALUES (1);\nINSERT INTO child VALUES (1, 1);\n",
    "002_rebuild.up.sql": "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;\n",
    "003_data.ts": "export async function up(tx) { await tx.execute('DELETE FROM child'); }",
  });
  const db = await openDatabase("file:" + file, { create: true });
  t.after(() => db.close());
  // A connection on which "PRAGMA foreign_keys = OFF" has no effect (as some servers do).
  const client = db.client;
  const stubborn = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "execute") return (stmt: unknown) => (/foreign_keys\s*=\s*OFF/i.test(String(stmt)) ? target.execute("SELECT 1") : target.execute(stmt as string));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  await client.execute("PRAGMA foreign_keys = ON");
  const engine = new Engine({ db: { ...db, client: stubborn }, table: "strata_migrations", logger: silentLogger, lockTimeoutMs: 1000 });
  await client.batch(engine.store.createTables(), "write");
  const [one, two, three] = discoverMigrations(mdir);
  await assert.rejects(engine.up(one!), /refuses to turn foreign-key enforcement off/);
  await client.execute("PRAGMA foreign_keys = OFF");
  await engine.up(one!);
  await client.execute("PRAGMA foreign_keys = ON");
  await assert.rejects(engine.up(two!), /refuses to turn foreign-key enforcement off/);
  await assert.rejects(engine.up(three!), /refuses to turn foreign-key enforcement off/);
  assert.equal((await client.execute("SELECT count(*) AS n FROM child")).rows[0]!.n, 1, "no cascade, nothing changed");
  assert.equal((await client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, 1);
});
