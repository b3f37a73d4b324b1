/**
 * Schema workflows: autogenerate from schema.sql, check, schema dump, init --from-db — locally
 * and (check, dump, init) against the remote test server.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { up, down } from "../src/commands/migrate.ts";
import { status } from "../src/commands/inspect.ts";
import { autogenerate, check, declaredSchema, initFromDb, rehearseMigration, schemaDump } from "../src/commands/schema.ts";
import { discoverMigrations } from "../src/script/discover.ts";
import { StrataError } from "../src/errors.ts";
import { copyCalendar, json, openDb, ROOT, strata, tempDir, userSchema, writeFiles } from "./support/cli.ts";
import { remote } from "./support/remote.ts";

function calendar(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const mdir = copyCalendar(dir);
  const schema = path.join(dir, "schema.sql");
  fs.copyFileSync(path.join(ROOT, "schema.sql"), schema);
  const db = path.join(dir, "calendar_app.db");
  return { dir, mdir, schema, db, opts: { url: db, dir: mdir, schema } };
}

/** The calendar at head with a specialist, a booking and `more`. */
async function upWithRows(t: Parameters<typeof tempDir>[0], c: ReturnType<typeof calendar>, more: string) {
  await up(c.opts);
  const db = openDb(t, c.db);
  await db.batch([
    "INSERT INTO specialists (name, email) VALUES ('Ada', 'ada@example.com')",
    "INSERT INTO bookings (specialist_id, client_name, starts_at, ends_at) VALUES (1, 'Cleo', '2024-01-20T10:00', '2024-01-20T11:00')",
    more,
  ], "write");
  return db;
}

test("the shipped schema.sql matches the calendar migrations' head (strata check)", async (t) => {
  const c = calendar(t);
  await up(c.opts);
  const r = await check(c.opts);
  assert.deepEqual(r.differences, []);
  assert.equal(r.ok, true);
});

test("the guide's workflow: edit schema.sql, autogenerate, review, apply; rows survive; check passes", async (t) => {
  const c = calendar(t);
  const db = await upWithRows(t, c, "INSERT INTO invoices (booking_id, number, amount_cents) VALUES (1, 'INV-1', 100)");
  // 1. Modify the "models": a new column in the middle of bookings.
  fs.writeFileSync(c.schema, fs.readFileSync(c.schema, "utf8").replace("  notes TEXT,\n", "  notes TEXT,\n  room TEXT NOT NULL DEFAULT 'main',\n"));
  const pending = await check(c.opts);
  assert.equal(pending.ok, false);
  assert.deepEqual(pending.differences, [`schema.sql differs from the migrations' head: add column "bookings"."room"`]);
  // 2. Generate: column order is not compared, so one ADD COLUMN (no rebuild of the CASCADE parent).
  const gen = await autogenerate({ ...c.opts, message: "add booking room" });
  assert.equal(gen.empty, false);
  assert.equal(gen.files!.length, 2);
  const upSql = fs.readFileSync(gen.files![0]!, "utf8");
  assert.deepEqual(upSql.split("\n").filter((l) => l !== "" && !l.startsWith("--")), [`ALTER TABLE "bookings" ADD COLUMN room TEXT NOT NULL DEFAULT 'main';`]);
  // 3. Apply: the invoices that reference bookings are untouched.
  await up(c.opts);
  assert.equal((await db.execute("SELECT count(*) AS n FROM invoices")).rows[0]!.n, 1);
  assert.equal((await db.execute("SELECT room FROM bookings")).rows[0]!.room, "main");
  assert.equal((await check(c.opts)).ok, true);
  // Nothing differs now: autogenerate says so and writes nothing.
  const before = fs.readdirSync(c.mdir).length;
  const none = await autogenerate({ ...c.opts, message: "nothing" });
  assert.equal(none.empty, true);
  assert.equal(fs.readdirSync(c.mdir).length, before);
  // And it reverts cleanly.
  await down(c.opts);
  assert.equal((await db.execute("SELECT count(*) AS n FROM invoices")).rows[0]!.n, 1);
});

test("strict_column_order (strata.toml or --strict-column-order): a column added mid-table rebuilds, with the reason and the row count", async (t) => {
  const c = calendar(t);
  const db = await upWithRows(t, c, "INSERT INTO bookings (specialist_id, client_name, starts_at, ends_at) VALUES (1, 'Dan', '2024-01-21T10:00', '2024-01-21T11:00')");
  fs.writeFileSync(c.schema, fs.readFileSync(c.schema, "utf8").replace("  notes TEXT,\n", "  notes TEXT,\n  room TEXT,\n"));
  const toml = path.join(c.dir, "strata.toml");
  fs.writeFileSync(toml, "strict_column_order = true\n");
  const strictCheck = await check({ ...c.opts, config: toml });
  assert.match(strictCheck.differences.join("\n"), /rebuild table "bookings": strict column order/);
  const gen = await autogenerate({ ...c.opts, config: toml, message: "add booking room" });
  assert.match(gen.up, /-- table "bookings": rebuild .*\n--   why: strict column order: ADD COLUMN only appends, and the declared order is id, .*notes, room,/);
  assert.match(gen.up, /--   rows: 2 when this was generated/);
  await up(c.opts);
  assert.equal((await check({ ...c.opts, strictColumnOrder: true })).ok, true);
  const cols = await db.execute("SELECT name FROM pragma_table_info('bookings')");
  const names = cols.rows.map((r) => String(r.name));
  assert.equal(names.indexOf("room"), names.indexOf("notes") + 1);
  fs.writeFileSync(toml, "strict_column_order = \"maybe\"\n");
  await assert.rejects(check({ ...c.opts, config: toml }), /strict_column_order must be true or false, not "maybe"/);
  // Without the option the same schema.sql is also "in sync" — and the flag alone turns it on.
  fs.rmSync(toml);
  const r = await strata(["new", "again", "--autogenerate", "--strict-column-order", "--dir", c.mdir, "--schema", c.schema, "--json"], { cwd: c.dir });
  assert.equal(json(r).empty, true, r.stdout + r.stderr);
});

test("autogenerate and check refuse a foreign key to the implicit rowid (SQLite cannot enforce it)", async (t) => {
  const c = calendar(t);
  fs.appendFileSync(c.schema, "CREATE TABLE rooms (label TEXT);\nCREATE TABLE room_notes (room INTEGER REFERENCES rooms(rowid), body TEXT);\n");
  await assert.rejects(autogenerate({ ...c.opts, message: "rooms" }), (e: unknown) => {
    assert.ok(e instanceof StrataError);
    assert.match(e.message, /"room_notes"\."room" REFERENCES "rooms"\(rowid\): SQLite cannot enforce a foreign key to the implicit rowid/);
    assert.match(e.hint ?? "", /INTEGER PRIMARY KEY/);
    return true;
  });
  assert.equal(fs.readdirSync(c.mdir).filter((f) => f.includes("rooms")).length, 0);
  await up(c.opts);
  await assert.rejects(check(c.opts), /implicit rowid/);
});

test("the rehearsal refuses a migration that fails or lands elsewhere, naming the step and the line", async (t) => {
  const c = calendar(t);
  const files = discoverMigrations(c.mdir);
  const to = await declaredSchema(c.schema, "strata_migrations");
  const fails = { up: "-- first line\nALTER TABLE bookings ADD COLUMN room TEXT;\nALTER TABLE nosuch ADD COLUMN x TEXT;\n", down: "" };
  await assert.rejects(rehearseMigration(files, "strata_migrations", fails, to), (e: unknown) => {
    assert.ok(e instanceof StrataError);
    assert.match(e.message, /^the generated up migration fails \(line 3\): .*no such table: nosuch/);
    return true;
  });
  const elsewhere = { up: "ALTER TABLE bookings ADD COLUMN room TEXT;\n", down: "ALTER TABLE bookings DROP COLUMN room;\n" };
  await assert.rejects(rehearseMigration(files, "strata_migrations", elsewhere, to), /the generated up migration does not reach schema\.sql: drop column "bookings"\."room"/);
  await rehearseMigration(files, "strata_migrations", { up: "SELECT 1;\n", down: "SELECT 1;\n" }, to);
});

test("autogenerate: renames are never guessed; the drop + add carries the RENAME COLUMN hint", async (t) => {
  const c = calendar(t);
  fs.writeFileSync(c.schema, fs.readFileSync(c.schema, "utf8").replace("  notes TEXT,\n", "  remarks TEXT,\n"));
  const db = await upWithRows(t, c, "UPDATE bookings SET notes = 'window seat'");
  const gen = await autogenerate({ ...c.opts, message: "rename notes" });
  assert.match(gen.up, /If this is a rename.*RENAME COLUMN "notes" TO "remarks"/);
  // Following the hint gives an in-place RENAME COLUMN that keeps the data, and check agrees with schema.sql.
  for (const [file, text] of [[gen.files![0]!, gen.up], [gen.files![1]!, gen.down]] as const) {
    const hint = /replace the DROP\/ADD below with: (ALTER TABLE .* RENAME COLUMN .*;)/.exec(text)![1]!;
    const body = text.split("\n").filter((l) => l.startsWith("--") || !/^ALTER TABLE "bookings" (ADD|DROP) COLUMN/.test(l));
    fs.writeFileSync(file, [...body, hint, ""].join("\n"));
  }
  await up(c.opts);
  assert.equal((await db.execute("SELECT remarks FROM bookings")).rows[0]!.remarks, "window seat");
  assert.deepEqual((await check(c.opts)).differences, []);
  await down(c.opts);
  assert.equal((await db.execute("SELECT notes FROM bookings")).rows[0]!.notes, "window seat");
});

test("autogenerate: a broken schema.sql is reported with file and line; nothing written", async (t) => {
  const c = calendar(t);
  fs.writeFileSync(c.schema, "CREATE TABLE a (id INTEGER);\n\nCREATE TABLE b (id INTEGER REFERENCES);\n");
  const before = fs.readdirSync(c.mdir).length;
  await assert.rejects(autogenerate({ ...c.opts, message: "x" }), (e: StrataError) => e.line === 3 && e.file === c.schema);
  assert.equal(fs.readdirSync(c.mdir).length, before);
});

test("autogenerate refuses a schema.sql whose view or trigger names a missing column (SQLite would accept it until used); nothing written", async (t) => {
  const c = calendar(t);
  const shipped = fs.readFileSync(c.schema, "utf8");
  const before = fs.readdirSync(c.mdir).length;
  const broken = [
    ["CREATE VIEW booking_rooms AS SELECT id, room FROM bookings;", /view booking_rooms: no such column: room/],
    ["CREATE TRIGGER bookings_room AFTER UPDATE ON bookings BEGIN SELECT new.room; END;", /trigger bookings_room: no such column: new\.room/],
  ] as const;
  for (const [sql, why] of broken) {
    fs.writeFileSync(c.schema, `${shipped}\n${sql}\n`);
    await assert.rejects(autogenerate({ ...c.opts, message: "broken" }), (e: unknown) => {
      assert.ok(e instanceof StrataError && e.file === c.schema, String(e));
      assert.match(e.message, why);
      return true;
    });
  }
  assert.equal(fs.readdirSync(c.mdir).length, before);
  // The same view over a column that exists is fine.
  fs.writeFileSync(c.schema, `${shipped}\nCREATE VIEW booking_notes AS SELECT id, notes FROM bookings;\n`);
  assert.equal((await autogenerate({ ...c.opts, message: "view" })).empty, false);
});

test("check lists every difference: pending, changed file, hand-made drift", async (t) => {
  const c = calendar(t);
  await up({ ...c.opts, to: "20240320150000" });
  let r = await check(c.opts);
  assert.equal(r.ok, false);
  assert.match(r.differences.join("\n"), /1 pending \(20240410080000\)/);
  await up(c.opts);
  const db = openDb(t, c.db);
  await db.execute("CREATE INDEX ix_by_hand ON clients (phone)");
  r = await check(c.opts);
  assert.match(r.differences.join("\n"), /database differs from the migrations' head: .*ix_by_hand/);
  const cli = await strata(["check", "--url", c.db, "--dir", c.mdir, "--schema", c.schema, "--json"]);
  assert.equal(cli.code, 1);
  assert.equal(json(cli).ok, false);
});

test("schema dump is stable and normalized; --dump-schema writes it after up", async (t) => {
  const c = calendar(t);
  await up(c.opts);
  const a = await schemaDump(c.opts);
  const b = await schemaDump(c.opts);
  assert.equal(a.sql, b.sql);
  assert.match(a.sql, /^CREATE TABLE bookings/);
  assert.doesNotMatch(a.sql, /strata_migrations/);
  const out = path.join(c.dir, "dump.sql");
  const r = await strata(["up", "--url", path.join(c.dir, "second.db"), "--dir", c.mdir, "--dump-schema", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(out, "utf8"), a.sql);
});

test("init --from-db adopts an existing database: initial migration + stamp; down/up round-trips", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "calendar_app.db");
  const db = openDb(t, file);
  // The seed's database, created by SQLAlchemy's create_all long ago.
  await db.executeMultiple(fs.readFileSync(path.join(ROOT, "schema.sql"), "utf8") + "\nCREATE VIEW upcoming AS SELECT * FROM bookings WHERE starts_at > '2024';\nCREATE TRIGGER trg_touch AFTER UPDATE ON clients BEGIN UPDATE clients SET phone = phone WHERE id = NEW.id AND 0; END;");
  await db.execute("INSERT INTO specialists (name) VALUES ('Ada')");
  const original = await userSchema(db);
  const mdir = path.join(dir, "migrations");
  const r = await initFromDb({ url: file, dir: mdir });
  assert.equal(r.objects, 4 + 6 + 1 + 1 + 1, "tables, indexes, the UNIQUE constraint's index excluded, view, trigger");
  const s = await status({ url: file, dir: mdir });
  assert.deepEqual(s.applied.map((m) => m.version), [r.version]);
  assert.equal(s.pending.length, 0);
  // The captured migration rebuilds exactly this schema on a fresh database.
  const fresh = path.join(dir, "fresh.db");
  await up({ url: fresh, dir: mdir });
  assert.deepEqual((await userSchema(openDb(t, fresh))).map(normalize), original.map(normalize));
  await down({ url: fresh, dir: mdir });
  assert.deepEqual(await userSchema(openDb(t, fresh)), []);
  // A second init is refused.
  await assert.rejects(initFromDb({ url: file, dir: mdir }), /already has strata history/);
});

function normalize(s: string): string {
  return s.replace(/\s+/g, " ").replace(/"/g, "");
}

test("remote: check, schema dump and init --from-db against the test server", async (t) => {
  const r = await remote(t);
  const dir = tempDir(t);
  await r.client.executeMultiple("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX ix_a_v ON a (v);");
  const mdir = path.join(dir, "migrations");
  // A schema file given must exist (check refuses a missing one): the database's own schema.
  writeFiles(dir, { "declared.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX ix_a_v ON a (v);\n" });
  const opts = { url: r.url, authToken: r.token, dir: mdir, schema: path.join(dir, "declared.sql") };
  const init = await initFromDb(opts);
  assert.equal(init.objects, 2);
  const dump = await schemaDump(opts);
  assert.equal(dump.sql, "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX ix_a_v ON a (v);\n");
  assert.equal((await check(opts)).ok, true);
  writeFiles(mdir, { "99990101000000_b.up.sql": "CREATE TABLE b (id INTEGER);", "99990101000000_b.down.sql": "DROP TABLE b;" });
  assert.equal((await check(opts)).ok, false);
});

test("remote (sqld): in place with libSQL's ALTER COLUMN and ADD COLUMN, a rebuild counting the server's rows; check passes after each", async (t) => {
  const r = await remote(t);
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, {
    "20240101000000_a.up.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'x', n INTEGER);",
    "20240101000000_a.down.sql": "DROP TABLE a;",
  });
  const schema = path.join(dir, "schema.sql");
  const opts = { url: r.url, authToken: r.token, dir: mdir, schema };
  await up(opts);
  await r.client.execute("INSERT INTO a (id, n) VALUES (1, 10), (2, NULL)");
  fs.writeFileSync(schema, "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'y', room TEXT, n INTEGER);\n");
  const inPlace = await autogenerate({ ...opts, message: "room", now: new Date("2024-02-01T00:00:00Z") });
  const statements = (sql: string) => sql.split("\n").filter((l) => l !== "" && !l.startsWith("--"));
  assert.deepEqual(statements(inPlace.up), [`ALTER TABLE "a" ADD COLUMN room TEXT;`, `ALTER TABLE "a" ALTER COLUMN v TO v TEXT DEFAULT 'y';`]);
  await up(opts);
  await r.client.execute("INSERT INTO a (id) VALUES (3)");
  const rows = async () => (await r.client.execute("SELECT id, v, room, n FROM a ORDER BY id")).rows.map((row) => [row.id, row.v, row.room, row.n]);
  // A default affects new rows only.
  assert.deepEqual(await rows(), [[1, "x", null, 10], [2, "x", null, null], [3, "y", null, null]]);
  assert.deepEqual((await check(opts)).differences, []);
  fs.writeFileSync(schema, "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'y', room TEXT, n INTEGER NOT NULL DEFAULT 0);\n");
  const rebuild = await autogenerate({ ...opts, message: "n not null", now: new Date("2024-03-01T00:00:00Z") });
  assert.match(rebuild.up, /--   why: SQLite's ALTER TABLE cannot change this in place: NOT NULL of "n": nullable → NOT NULL\n(--.*\n)*--   rows: 3 when this was generated/);
  await up(opts);
  assert.deepEqual(await rows(), [[1, "x", null, 10], [2, "x", null, 0], [3, "y", null, 0]]);
  assert.deepEqual((await check(opts)).differences, []);
});
