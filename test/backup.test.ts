/**
 * backup and restore: real files, real processes (a writer inserting while the backup runs, a
 * remote server over HTTP, the CLI as a child under /usr/bin/time for peak memory).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { createHash } from "node:crypto";
import { createClient, type Client } from "@libsql/client";
import { backup } from "../src/commands/backup.ts";
import { restore } from "../src/commands/restore.ts";
import { down, up } from "../src/commands/migrate.ts";
import { dumpStatements } from "../src/backup/dump.ts";
import { replay } from "../src/backup/replay.ts";
import { realLiteral, sqlLiteral } from "../src/backup/sql-literal.ts";
import { ROOT, TSX_LOADER, json, rejectsWith, runCommand, strata, tempDir, writeFiles } from "./support/cli.ts";
import { ops, opsEntry } from "./fixtures/app/cli.ts";
import { contents } from "./support/db-contents.ts";

type T = Parameters<typeof tempDir>[0];

const MIGRATIONS = {
  "001_people.up.sql": `CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, photo BLOB, note TEXT);
CREATE INDEX ix_people_name ON people (name);
`,
  "001_people.down.sql": "DROP TABLE people;\n",
  "002_tags.up.sql": "CREATE TABLE tags (person_id INTEGER NOT NULL REFERENCES people (id), tag TEXT NOT NULL, PRIMARY KEY (person_id, tag)) WITHOUT ROWID;\n",
  "002_tags.down.sql": "DROP TABLE tags;\n",
};

function project(t: T) {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, MIGRATIONS);
  const db = path.join(dir, "app.db");
  const out = path.join(dir, "backups");
  return { dir, mdir, db, out, opts: { url: db, dir: mdir } };
}

function open(t: T, url: string): Client {
  const c = createClient({ url, intMode: "bigint" });
  t.after(() => c.close());
  return c;
}

async function seed(c: Client, n: number): Promise<void> {
  const stmts = [];
  for (let i = 1; i <= n; i++) {
    stmts.push({ sql: "INSERT INTO people (name, score, photo, note) VALUES (?, ?, ?, ?)", args: [`person ${i}`, i / 7, new Uint8Array([i % 256, 0, 255]), i % 3 === 0 ? `line one\nline 'two' ${i}` : null] });
  }
  await c.batch(stmts, "write");
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}


// ------------------------------------------------------------------------------------- tests

test("SQL literals read back exactly: integers, reals, text, blobs", () => {
  assert.equal(sqlLiteral(9007199254740993n), "9007199254740993");
  assert.equal(realLiteral(3), "3.0");
  assert.equal(realLiteral(0.1), "0.1");
  assert.equal(realLiteral(1e300), "1e+300");
  assert.equal(realLiteral(5e-324), "5e-324");
  assert.equal(realLiteral(-Infinity), "-9e999");
  assert.equal(sqlLiteral("it's"), "'it''s'");
  assert.equal(sqlLiteral("a\nb"), "CAST(X'610a62' AS TEXT)");
  assert.equal(sqlLiteral(new Uint8Array([0, 255]).buffer), "X'00ff'");
  assert.equal(sqlLiteral(null), "NULL");
});

test("local backup: verified snapshot with manifest, name and mode 0600; restore puts it back atomically with a safety backup", async (t) => {
  const { db, out, opts } = project(t);
  await up(opts);
  const c = open(t, "file:" + db);
  await seed(c, 50);
  const before = await contents(c);

  const b = await backup({ ...opts, out, keep: undefined });
  assert.equal(b.kind, "snapshot");
  assert.match(path.basename(b.path), /^app-\d{8}T\d{6}Z-002\.db$/);
  assert.equal(b.version, "002");
  assert.equal(b.tables.people, 50);
  assert.equal(b.sha256, sha256(b.path));
  assert.equal(b.size, fs.statSync(b.path).size);
  assert.equal(fs.statSync(b.path).mode & 0o777, 0o600);
  assert.equal(fs.statSync(b.manifest).mode & 0o777, 0o600);
  const manifest = JSON.parse(fs.readFileSync(b.manifest, "utf8"));
  assert.equal(manifest.kind, "snapshot");
  assert.equal(manifest.source, `file:${db}`);
  assert.equal(manifest.version, "002");
  assert.equal(manifest.sha256, b.sha256);
  assert.match(manifest.strataVersion, /^\d+\.\d+\.\d+/);
  assert.ok(!Number.isNaN(Date.parse(manifest.createdAt)));
  assert.deepEqual(fs.readdirSync(out).sort(), [path.basename(b.path), path.basename(b.manifest)].sort(), "no temp files left");

  // Later changes: rows deleted, a migration reverted.
  await c.execute("DELETE FROM people WHERE id > 10");
  await down(opts);
  c.close();

  const r = await restore({ ...opts, file: b.path, yes: true, out });
  assert.equal(r.version, "002");
  assert.equal(r.backupVersion, "002");
  assert.ok(r.safetyBackup && /-001-pre-restore\.db$/.test(r.safetyBackup), String(r.safetyBackup));
  const after = open(t, "file:" + db);
  assert.deepEqual(await contents(after), before);
  assert.deepEqual(fs.readdirSync(path.dirname(db)).filter((f) => f.startsWith(".")), [], "no temp files beside the database");
  // The safety backup holds the state that was replaced.
  const safety = open(t, "file:" + r.safetyBackup!);
  assert.equal(Number((await safety.execute("SELECT count(*) FROM people")).rows[0]![0]), 10);
});

test("a backup taken while a writer inserts continuously (WAL) restores to a consistent database", async (t) => {
  const { dir, db, out } = project(t);
  const writer = spawn(process.execPath, [path.join(ROOT, "test/fixtures/app/writer.mjs"), db], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => writer.kill("SIGKILL"));
  let stdout = "";
  writer.stdout!.on("data", (d) => (stdout += d));
  const exited = new Promise<void>((r) => writer.on("exit", () => r()));
  const probe = open(t, "file:" + db);
  const count = async () => {
    try {
      return Number((await probe.execute("SELECT count(*) FROM events")).rows[0]![0]);
    } catch {
      return 0;
    }
  };
  while ((await count()) < 300) await new Promise((r) => setTimeout(r, 50));
  const atStart = await count();
  assert.equal(String((await probe.execute("PRAGMA journal_mode")).rows[0]![0]), "wal");
  probe.close();

  // Two backups while it writes, the second through the CLI.
  const b1 = await backup({ url: db, out });
  const cli = await ops(["backup", "--url", db, "--out", out, "--json"], { cwd: dir });
  assert.equal(cli.code, 0, cli.stderr);
  const b2 = json(cli);
  writer.kill("SIGTERM");
  await exited;
  const committed = (JSON.parse(stdout.trim().split("\n").pop()!) as { committed: number }).committed;
  assert.ok(committed > atStart, `the writer kept writing (${atStart} -> ${committed})`);

  for (const b of [b1, b2]) {
    const target = path.join(dir, `restored-${path.basename(b.path)}`);
    const r = await restore({ url: target, file: b.path, yes: true, out });
    assert.equal(r.safetyBackup, null, "nothing to save: the target did not exist");
    const c = open(t, "file:" + target);
    assert.equal(String((await c.execute("PRAGMA integrity_check")).rows[0]![0]), "ok");
    const events = Number((await c.execute("SELECT count(*) FROM events")).rows[0]![0]);
    const ledger = Number((await c.execute("SELECT count(*) FROM ledger")).rows[0]![0]);
    assert.ok(events >= atStart && events <= committed, `${events} rows, between ${atStart} and ${committed}`);
    assert.equal(ledger, events, "every transaction is whole");
    assert.equal(Number((await c.execute("SELECT max(n) FROM ledger")).rows[0]![0]), events);
    const rows = await c.execute("SELECT payload, digest FROM events");
    for (const row of rows.rows) assert.equal(createHash("sha256").update(String(row.payload)).digest("hex"), row.digest, "no torn rows");
  }
});

test("restore refuses while another process has the database open, naming it; nothing changes", async (t) => {
  const { db, out } = project(t);
  const writer: ChildProcess = spawn(process.execPath, [path.join(ROOT, "test/fixtures/app/writer.mjs"), db], { stdio: "ignore" });
  t.after(() => writer.kill("SIGKILL"));
  const probe = open(t, "file:" + db);
  for (;;) {
    try {
      if (Number((await probe.execute("SELECT count(*) FROM events")).rows[0]![0]) > 20) break;
    } catch {
      /* not created yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const b = await backup({ url: db, out });
  const e = await rejectsWith(restore({ url: db, file: b.path, yes: true, out }), "lock", new RegExp(`open in another process: pid ${writer.pid}`));
  assert.match(e.hint ?? "", /stop the app/);
  assert.equal(fs.readdirSync(out).filter((f) => f.includes("pre-restore")).length, 0, "no safety backup: nothing was done");
  assert.deepEqual(fs.readdirSync(path.dirname(db)).filter((f) => f.startsWith(".")), []);
  writer.kill("SIGTERM");
  await new Promise((r) => writer.on("exit", r));
});

test("restore refuses a tampered backup, a damaged manifest or none: clear error, nothing changed", async (t) => {
  const { dir, db, out, opts } = project(t);
  await up(opts);
  const c = open(t, "file:" + db);
  await seed(c, 20);
  c.close();
  const b = await backup({ ...opts, out });
  const original = sha256(db);

  // One byte changed in the middle of the snapshot.
  const bytes = fs.readFileSync(b.path);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(b.path, bytes);
  const e = await rejectsWith(restore({ ...opts, file: b.path, yes: true, out }), "state", /does not match its manifest/);
  assert.match(e.hint ?? "", /nothing was changed/);

  // Through the CLI: exit 1, one line.
  const cli = await ops(["restore", b.path, "--url", db, "--yes", "--out", out], { cwd: dir });
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /does not match its manifest/);

  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(b.path, bytes);
  fs.writeFileSync(b.manifest, "{ not json");
  await rejectsWith(restore({ ...opts, file: b.path, yes: true, out }), "state", /not valid JSON/);
  fs.rmSync(b.manifest);
  await rejectsWith(restore({ ...opts, file: b.path, yes: true, out }), "state", /has no manifest/);

  assert.equal(sha256(db), original, "the database was not touched");
  assert.equal(fs.readdirSync(out).filter((f) => f.includes("pre-restore")).length, 0);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(".")), []);
});

test("--keep prunes older backups of the same database only, and says what it pruned", async (t) => {
  const { dir, db, out } = project(t);
  const other = path.join(dir, "elsewhere");
  fs.mkdirSync(other);
  for (const f of [db, path.join(other, "app.db"), path.join(dir, "app-old.db")]) {
    const c = createClient({ url: "file:" + f });
    await c.execute("CREATE TABLE x (a)");
    c.close();
  }
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(await backup({ url: db, out }));
  const foreign = await backup({ url: path.join(other, "app.db"), out }); // same <db> label, other source
  const similar = await backup({ url: path.join(dir, "app-old.db"), out }); // name starts with "app-"
  fs.writeFileSync(path.join(out, "app-notes.txt"), "keep me");

  const cli = await ops(["backup", "--url", db, "--keep", "2", "--json"], { cwd: dir, env: { STRATA_BACKUP_DIR: out } });
  assert.equal(cli.code, 0, cli.stderr);
  const r = json(cli);
  assert.deepEqual(r.pruned.sort(), [mine[0]!.path, mine[1]!.path].sort());
  assert.match(cli.stderr, /pruned app-/);
  for (const p of [mine[2]!.path, r.path, foreign.path, similar.path, path.join(out, "app-notes.txt")]) assert.ok(fs.existsSync(p), p);
  for (const m of mine.slice(0, 2)) {
    assert.equal(fs.existsSync(m.path), false);
    assert.equal(fs.existsSync(m.manifest), false);
  }
});

test("CLI: restore asks on a terminal only; without one it needs --yes (exit 2); text and --json output", async (t) => {
  const { dir, db, out, mdir } = project(t);
  // Migrated by a child: a database this process had opened keeps a (closed) handle until GC,
  // which restore's open-handle check would rightly refuse.
  assert.equal((await strata(["up", "--url", db, "--dir", mdir], { cwd: dir })).code, 0);
  const b = json(await ops(["backup", "--url", db, "--out", out, "--json"], { cwd: dir }));
  assert.deepEqual(Object.keys(b).sort(), ["command", "database", "durationMs", "kind", "manifest", "ok", "path", "pruneSkipped", "pruned", "rows", "sha256", "size", "tables", "tempFiles", "version"].sort());
  const no = await ops(["restore", b.path, "--url", db], { cwd: dir });
  assert.equal(no.code, 2);
  assert.match(no.stderr, /pass --yes/);
  const text = await ops(["restore", b.path, "--url", db, "--yes", "--out", out], { cwd: dir });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /database is at 002/);
  assert.match(text.stdout, /safety backup of the previous state: .*pre-restore\.db/);
  assert.match(text.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}restoring /m, "timestamped log lines when not a TTY");
  const bad = await ops(["restore", b.path, "--url", db, "--yes", "--close-timeout", "soon"], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid --close-timeout "soon"/);
});

test("a 200 MB database is backed up with peak memory under 150 MB", { skip: !fs.existsSync("/usr/bin/time") && "needs /usr/bin/time" }, async (t) => {
  const { dir, db, out } = project(t);
  const c = createClient({ url: "file:" + db });
  await c.batch([
    "PRAGMA journal_mode=WAL",
    "CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) INSERT INTO big SELECT i, randomblob(4000) FROM n",
  ], "write");
  c.close();
  const size = fs.statSync(db).size + (fs.existsSync(db + "-wal") ? fs.statSync(db + "-wal").size : 0);
  assert.ok(size > 200e6, `database is ${size} bytes`);
  const started = Date.now();
  const r = await runCommand("/usr/bin/time", ["-v", process.execPath, "--import", TSX_LOADER, opsEntry(), "backup", "--url", db, "--out", out, "--json"], { cwd: dir });
  const ms = Date.now() - started;
  assert.equal(r.code, 0, r.stderr);
  const peakKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const result = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
  t.diagnostic(`200 MB backup: ${ms} ms wall (strata's own durationMs ${result.durationMs}), peak RSS ${(peakKb / 1024).toFixed(1)} MB`);
  assert.ok(peakKb > 0 && peakKb < 150 * 1024, `peak RSS ${peakKb} kB`);
  assert.equal(result.tables.big, 50000);
});

test("dumpStatements + replay: a logical copy between two local databases is identical", async (t) => {
  const a = open(t, ":memory:");
  await a.batch([
    "CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL, s TEXT, b BLOB, i INTEGER)",
    { sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)", args: [1, 1 / 3, "x'y", new Uint8Array([1, 2, 3]), -9223372036854775808n] },
    { sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)", args: [2, -0.5e-10, "", new Uint8Array([]), 9223372036854775807n] },
    "CREATE TABLE w (a TEXT, b INTEGER, c, PRIMARY KEY (a, b)) WITHOUT ROWID",
  ], "write");
  const many = [];
  for (let i = 0; i < 2500; i++) many.push({ sql: "INSERT INTO w VALUES (?, ?, ?)", args: [`k${i % 7}`, i, i % 2 ? i * 1.5 : null] });
  await a.batch(many, "write");
  const b = open(t, ":memory:");
  async function* sqlOf() {
    for await (const s of dumpStatements(a, { maxPageRows: 100 })) yield s.sql;
  }
  const r = await replay(b, sqlOf(), { displayUrl: "b", maxStatements: 300 });
  assert.equal(r.rows, 2502);
  assert.deepEqual(await contents(b), await contents(a));
});
