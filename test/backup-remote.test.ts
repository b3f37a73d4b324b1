/**
 * Remote backup and restore on the real libSQL server (sqld, test/support/sqld.ts), counted by the
 * proxy in front of it (test/support/counting-proxy.ts): exact round trips, a number of requests
 * that does not grow with the number of tables, and a restore that is all-or-nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { createClient, type Client } from "@libsql/client";
import { backup } from "../src/commands/backup.ts";
import { restore } from "../src/commands/restore.ts";
import { up } from "../src/commands/migrate.ts";
import { rejectsWith, tempDir, writeFiles } from "./support/cli.ts";
import { contents } from "./support/db-contents.ts";
import { ops } from "./fixtures/app/cli.ts";
import { Logger } from "../src/output/logger.ts";
import { startCountingProxy, type CountingProxy } from "./support/counting-proxy.ts";
import { NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";

type T = Parameters<typeof tempDir>[0];
let server: Sqld;
before(async () => {
  if (!NO_SQLD) server = await startSqld({ namespaces: true });
});
after(() => server?.stop());

async function proxied(t: T): Promise<{ client: Client; url: string; token: string; proxy: CountingProxy }> {
  const db = await server.freshDatabase(t);
  const proxy = await startCountingProxy(db.url);
  t.after(() => proxy.close());
  return { client: db.client, url: proxy.url, token: db.token, proxy };
}

/** `n` tables of a few rows each, with foreign keys between neighbours. */
async function manyTables(c: Client, n: number): Promise<void> {
  const stmts: string[] = [];
  for (let i = 0; i < n; i++) {
    stmts.push(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY AUTOINCREMENT, ${i > 0 ? `parent INTEGER REFERENCES t${i - 1} (id),` : ""} name TEXT, v REAL)`);
    for (let r = 1; r <= 3; r++) stmts.push(`INSERT INTO t${i} (${i > 0 ? "parent, " : ""}name, v) VALUES (${i > 0 ? `${r}, ` : ""}'row ${r}', ${r}.5)`);
  }
  await c.migrate(stmts);
}

test("remote backup and restore on sqld: exact round trip; requests do not grow with the number of tables; --force restore is one transaction", { skip: NO_SQLD }, async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "backups");
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, {
    "001_people.up.sql": "CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, photo BLOB, note TEXT);\nCREATE INDEX ix_people_name ON people (name);\n",
    "001_people.down.sql": "DROP TABLE people;\n",
  });
  const src = await proxied(t);
  await up({ url: src.url, authToken: src.token, dir: mdir });
  const rows = [];
  for (let i = 1; i <= 1200; i++) rows.push({ sql: "INSERT INTO people (name, score, photo, note) VALUES (?, ?, ?, ?)", args: [`person ${i}`, i / 7, new Uint8Array([i % 256, 0, 255]), i % 3 === 0 ? `line one\nline 'two' ${i}` : null] });
  await src.client.batch(rows, "write");
  await src.client.migrate([
    "DELETE FROM people WHERE id > 1190", // AUTOINCREMENT high-water mark above max(id)
    "INSERT INTO people (name, score, note) VALUES ('big', 1e300, 9007199254740993)",
    "INSERT INTO people (name, score) VALUES ('whole real', 3.0)",
    "CREATE TABLE plain (k TEXT, v ANY)", // rowid table without an alias: rowids are kept
    "INSERT INTO plain (rowid, k, v) VALUES (10, 'x', 1), (-5, 'y', 2.5), (7, 'z', x'00')",
    "CREATE TABLE tags (person_id INTEGER NOT NULL REFERENCES people (id), tag TEXT NOT NULL, PRIMARY KEY (person_id, tag)) WITHOUT ROWID",
    "INSERT INTO tags VALUES (1, 'a'), (1, 'b'), (2, 'a')",
    "CREATE TABLE gen (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL, c TEXT GENERATED ALWAYS AS (a || '!') STORED)",
    "INSERT INTO gen (a) VALUES (1), (2)",
    "CREATE VIRTUAL TABLE docs USING fts5(title, body)",
    "INSERT INTO docs (title, body) VALUES ('one', 'hello world'), ('two', 'goodbye')",
    "CREATE VIEW named AS SELECT name FROM people WHERE note IS NOT NULL",
    "CREATE TRIGGER people_touch AFTER UPDATE ON people BEGIN UPDATE people SET note = 'touched' WHERE id = new.id AND note IS NULL; END",
  ]);
  const expected = await contents(src.client);

  src.proxy.resetStats();
  const b = await backup({ url: src.url, authToken: src.token, out, dir: mdir });
  const backupRequests = src.proxy.stats.requests;
  assert.equal(b.kind, "dump");
  assert.equal(b.version, "001");
  assert.equal(b.tables.people, 1192);

  const target = await proxied(t);
  const r = await restore({ url: target.url, authToken: target.token, file: b.path, yes: true, out });
  const restoreRequests = target.proxy.stats.requests;
  assert.equal(r.version, "001");
  assert.deepEqual(await contents(target.client), expected, "types, rowids, sequences and schema are exact");
  assert.equal(Number((await target.client.execute("SELECT count(*) FROM docs WHERE docs MATCH 'hello'")).rows[0]![0]), 1, "full-text index rebuilt");

  // 53 small tables and 3 small tables: the same number of requests (to within one).
  const counts: Record<number, { backup: number; restore: number }> = {};
  for (const n of [3, 53]) {
    const many = await proxied(t);
    await manyTables(many.client, n);
    many.proxy.resetStats();
    const mb = await backup({ url: many.url, authToken: many.token, out });
    const backupN = many.proxy.stats.requests;
    const into = await proxied(t);
    await restore({ url: into.url, authToken: into.token, file: mb.path, yes: true, out });
    counts[n] = { backup: backupN, restore: into.proxy.stats.requests };
    assert.deepEqual(await contents(into.client), await contents(many.client));
  }
  t.diagnostic(`requests on sqld: calendar-like backup ${backupRequests}, restore ${restoreRequests}; 3 tables ${JSON.stringify(counts[3])}, 53 tables ${JSON.stringify(counts[53])}`);
  assert.ok(counts[53]!.backup <= counts[3]!.backup + 1, `backup: ${counts[53]!.backup} requests for 53 tables vs ${counts[3]!.backup} for 3`);
  assert.ok(counts[53]!.restore <= counts[3]!.restore + 1, `restore: ${counts[53]!.restore} requests for 53 tables vs ${counts[3]!.restore} for 3`);
  assert.ok(counts[53]!.backup <= 7 && counts[53]!.restore <= 8, JSON.stringify(counts[53]));

  // Over a non-empty target: refused without --force; with it, a safety backup, then one
  // transaction: a request failing midway leaves the target exactly as it was.
  const refused = await ops(["restore", b.path, "--url", target.url, "--yes", "--out", out], { cwd: dir, env: { DATABASE_AUTH_TOKEN: target.token } });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /is not empty.*--force/s);
  assert.ok(!refused.stderr.includes(target.token) && !refused.stdout.includes(target.token), "the token never appears");
  await target.client.execute("DELETE FROM people WHERE id > 100");
  const changed = await contents(target.client);
  let armed = false;
  target.proxy.onRequest = (info) => {
    // After the first replay batch (a request carrying many statements), fail the next request.
    if (!armed && info.requests.filter((x) => x === "store_sql").length > 15) {
      armed = true;
      target.proxy.failNext(1, 503);
    }
  };
  target.proxy.resetStats();
  const e = await rejectsWith(restore({ url: target.url, authToken: target.token, file: b.path, yes: true, force: true, out }), "unreachable", /failed and was rolled back, nothing changed/);
  target.proxy.onRequest = undefined;
  assert.ok(armed, "the failure hit the replay");
  assert.match(String(e.details?.safetyBackup), /-pre-restore(-\d+)?\.sql$/);
  assert.deepEqual(await contents(target.client), changed, "all-or-nothing: the target is as it was");
  const forced = await restore({ url: target.url, authToken: target.token, file: b.path, yes: true, force: true, out });
  assert.match(String(forced.safetyBackup), /-001-pre-restore(-\d+)?\.sql$/);
  assert.deepEqual(await contents(target.client), expected);
});

test("remote restore of a backup that holds foreign-key violations: replayed in committed batches, with a warning", { skip: NO_SQLD }, async (t) => {
  const out = path.join(tempDir(t), "backups");
  const src = await proxied(t);
  // client.migrate runs with foreign keys off: an orphan row, as a migration may have left one.
  await src.client.migrate(["CREATE TABLE p (id INTEGER PRIMARY KEY)", "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id))", "INSERT INTO c VALUES (1, 99)"]);
  const b = await backup({ url: src.url, authToken: src.token, out });
  const target = await proxied(t);
  const lines: string[] = [];
  await restore({ url: target.url, authToken: target.token, file: b.path, yes: true, out, logger: new Logger({ tty: false, color: false, write: (s) => lines.push(s) }) });
  assert.match(lines.join(""), /holds foreign-key violations.*not all-or-nothing/);
  assert.deepEqual(await contents(target.client), await contents(src.client));
});

test("a local snapshot with foreign-key violations restores into a remote database in committed batches, and one without in one transaction", { skip: NO_SQLD }, async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "backups");
  for (const orphan of [true, false]) {
    const db = path.join(dir, `app-${orphan}.db`);
    const local = createClient({ url: "file:" + db });
    t.after(() => local.close());
    // client.migrate runs with foreign keys off: the orphan row goes in.
    await local.migrate(["CREATE TABLE p (id INTEGER PRIMARY KEY)", "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id))", "INSERT INTO p VALUES (1)", `INSERT INTO c VALUES (1, ${orphan ? 99 : 1})`]);
    const b = await backup({ url: db, out });
    assert.equal(b.kind, "snapshot");
    const target = await proxied(t);
    const lines: string[] = [];
    await restore({ url: target.url, authToken: target.token, file: b.path, yes: true, out, logger: new Logger({ tty: false, color: false, write: (s) => lines.push(s) }) });
    assert.equal(/holds foreign-key violations.*not all-or-nothing/.test(lines.join("")), orphan, lines.join(""));
    assert.deepEqual(await contents(target.client), await contents(local));
  }
});

test("a local snapshot restores into a remote database exactly", { skip: NO_SQLD }, async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, "app.db");
  const out = path.join(dir, "backups");
  const local = createClient({ url: "file:" + db, intMode: "bigint" });
  t.after(() => local.close());
  await local.batch([
    "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, r REAL, b BLOB, big INTEGER)",
    "CREATE TABLE w (k TEXT, n INTEGER, PRIMARY KEY (k, n)) WITHOUT ROWID",
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) INSERT INTO a (r, b, big) SELECT i / 3.0, randomblob(16), 9007199254740993 + i FROM c",
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) INSERT INTO w SELECT 'k' || (i % 7), i FROM c",
    "CREATE INDEX ix_a_r ON a (r)",
  ], "write");
  const b = await backup({ url: db, out });
  assert.equal(b.kind, "snapshot");
  const target = await proxied(t);
  await restore({ url: target.url, authToken: target.token, file: b.path, yes: true, out });
  const remote = createClient({ url: target.url, authToken: target.token, intMode: "bigint" }); // 64-bit values exact
  t.after(() => remote.close());
  assert.deepEqual(await contents(remote), await contents(local));
});
