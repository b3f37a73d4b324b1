/**
 * Hostile and broken input, table-driven: some inputs simply work, every other one gives a
 * clear error and changes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { up } from "../src/commands/migrate.ts";
import { StrataError } from "../src/errors.ts";
import { openDb, tempDir, writeFiles } from "./support/cli.ts";

type T = Parameters<typeof tempDir>[0];

const BASE = {
  "001_base.up.sql": "CREATE TABLE base (id INTEGER PRIMARY KEY, v TEXT);\n",
  "001_base.down.sql": "DROP TABLE base;\n",
};

interface Project {
  dir: string;
  mdir: string;
  db: string;
}

/** A project whose database is already at 001. */
async function project(t: T): Promise<Project> {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, BASE);
  const db = path.join(dir, "app.db");
  await up({ url: db, dir: mdir });
  return { dir, mdir, db };
}

const works: [string, (p: Project) => void, (t: T, p: Project) => Promise<void>][] = [
  ["UTF-8 BOM", (p) => writeFiles(p.mdir, { "002_bom.up.sql": "\uFEFFINSERT INTO base (v) VALUES ('bom');\n" }), async (t, p) => {
    assert.equal((await openDb(t, p.db).execute("SELECT v FROM base")).rows[0]!.v, "bom");
  }],
  ["CRLF line endings", (p) => writeFiles(p.mdir, { "002_crlf.up.sql": "INSERT INTO base (v)\r\nVALUES ('a;b');\r\nINSERT INTO base (v) VALUES ('c');\r\n" }), async (t, p) => {
    assert.deepEqual((await openDb(t, p.db).execute("SELECT v FROM base ORDER BY id")).rows.map((r) => r.v), ["a;b", "c"]);
  }],
  ["a 10 MB migration", (p) => {
    const row = `INSERT INTO base (v) VALUES ('${"x".repeat(1000)}');\n`;
    writeFiles(p.mdir, { "002_big.up.sql": row.repeat(Math.ceil((10 * 1024 * 1024) / row.length)) });
  }, async (t, p) => {
    const n = Number((await openDb(t, p.db).execute("SELECT count(*) FROM base")).rows[0]![0]);
    assert.ok(n > 10_000, `${n} rows`);
  }],
  ["an explicitly empty migration", (p) => writeFiles(p.mdir, { "002_empty.up.sql": "-- strata:empty\n-- nothing to do\n" }), async () => {}],
];

for (const [name, arrange, check] of works) {
  test(`works: ${name}`, async (t) => {
    const p = await project(t);
    arrange(p);
    const before = process.memoryUsage().rss;
    const r = await up({ url: p.db, dir: p.mdir });
    assert.equal(r.to, "002");
    t.diagnostic(`rss grew ${((process.memoryUsage().rss - before) / 1e6).toFixed(1)} MB`);
    await check(t, p);
  });
}

/** [name, arrange (may return options overriding url/dir/to), expected kind, message pattern] */
const refused: [string, (p: Project, t: T) => Promise<Record<string, string> | void> | Record<string, string> | void, string, RegExp][] = [
  ["an empty migration", (p) => writeFiles(p.mdir, { "002_e.up.sql": "" }), "migrations", /002_e\.up\.sql has no SQL statements/],
  ["a comment-only migration", (p) => writeFiles(p.mdir, { "002_c.up.sql": "-- TODO\n/* later */\n" }), "migrations", /has no SQL statements/],
  ["an unterminated string", (p) => writeFiles(p.mdir, { "002_s.up.sql": "INSERT INTO base (v) VALUES ('a);\nSELECT 1;\n" }), "migrations", /unterminated string literal starting at line 1/],
  ["an unterminated comment", (p) => writeFiles(p.mdir, { "002_s.up.sql": "SELECT 1;\n/* never closed\n" }), "migrations", /unterminated .*comment/i],
  ["invalid UTF-8", (p) => writeFiles(p.mdir, { "002_u.up.sql": Buffer.from([0x49, 0x4e, 0x53, 0xff, 0xfe, 0x0a]) }), "migrations", /not valid UTF-8/],
  ["a binary file named .sql", (p) => writeFiles(p.mdir, { "002_b.up.sql": Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 0]) }), "migrations", /NUL character|binary/],
  ["a directory named like a migration", (p) => void fs.mkdirSync(path.join(p.mdir, "002_dir.up.sql")), "migrations", /002_dir\.up\.sql is a directory/],
  ["a symlink loop", (p) => {
    fs.symlinkSync(path.join(p.mdir, "002_b.up.sql"), path.join(p.mdir, "002_a.up.sql"));
    fs.symlinkSync(path.join(p.mdir, "002_a.up.sql"), path.join(p.mdir, "002_b.up.sql"));
  }, "migrations", /symlink loop/],
  ["a migrations folder that does not exist", (p) => ({ dir: path.join(p.dir, "nope") }), "config", /migrations folder .*nope does not exist \(given by --dir\)/],
  ["a --to that names nothing", (p) => {
    writeFiles(p.mdir, { "002_x.up.sql": "SELECT 1;" });
    return { to: "424242" };
  }, "usage", /revision "424242" names no migration/],
  ["a non-SQLite file as the database", (p) => {
    const junk = path.join(p.dir, "junk.db");
    fs.writeFileSync(junk, "this is not a database, just text that is long enough to look like a header....\n".repeat(20));
    return { url: junk };
  }, "unreachable", /is not an SQLite database/],
  ["a database path in a read-only directory", (p) => {
    if (process.getuid?.() === 0) return { url: "/proc/strata-test.db" }; // root ignores mode bits; /proc refuses new files
    const ro = path.join(p.dir, "ro");
    fs.mkdirSync(ro, { mode: 0o555 });
    return { url: path.join(ro, "app.db") };
  }, "unreachable", /cannot (create|open) .*(not writable)?/],
  ["a version table created by another tool", (p) => {
    const other = path.join(p.dir, "other.db");
    return (async () => {
      const db = (await import("@libsql/client")).createClient({ url: "file:" + other });
      await db.execute("CREATE TABLE strata_migrations (id INTEGER PRIMARY KEY, filename TEXT)");
      db.close();
      return { url: other };
    })();
  }, "state", /table "strata_migrations" exists but was not created by strata/],
  ["an unreadable migration file", (p) => {
    writeFiles(p.mdir, { "002_r.up.sql": "SELECT 1;" });
    fs.chmodSync(path.join(p.mdir, "002_r.up.sql"), 0);
    // root reads any file: emulate with a FIFO-free stand-in, a dangling symlink, which no one can read.
    if (process.getuid?.() === 0) {
      fs.rmSync(path.join(p.mdir, "002_r.up.sql"));
      fs.symlinkSync(path.join(p.dir, "gone.sql"), path.join(p.mdir, "002_r.up.sql"));
    }
  }, "migrations", /002_r\.up\.sql is (a broken symlink|unreadable)|cannot read .*002_r\.up\.sql/],
];

async function snapshot(file: string): Promise<Buffer | undefined> {
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
}

for (const [name, arrange, kind, pattern] of refused) {
  test(`refused, nothing changed: ${name}`, async (t) => {
    const p = await project(t);
    const overrides = (await arrange(p, t)) ?? {};
    const url = overrides.url ?? p.db;
    const target = url.startsWith("/proc") ? undefined : url;
    const before = target ? await snapshot(target) : undefined;
    const mainBefore = await snapshot(p.db);
    await assert.rejects(up({ url, dir: overrides.dir ?? p.mdir, to: overrides.to, lockTimeout: "2s" }), (e: unknown) => {
      assert.ok(e instanceof StrataError, `not a StrataError: ${e}`);
      assert.equal(e.kind, kind, e.message);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    });
    if (target) assert.deepEqual(await snapshot(target), before, "database file unchanged");
    assert.deepEqual(await snapshot(p.db), mainBefore, "project database unchanged");
  });
}

test("refused, nothing changed: a database locked by another process longer than the timeout", async (t) => {
  const p = await project(t);
  writeFiles(p.mdir, { "002_x.up.sql": "CREATE TABLE x (id INTEGER);" });
  // Another process holds an exclusive lock for 8 s.
  const holder = spawn(process.execPath, ["-e", `
    const Database = require(${JSON.stringify(import.meta.resolve("libsql").replace("file://", ""))});
    const db = new Database(${JSON.stringify(p.db)});
    db.exec("BEGIN EXCLUSIVE; INSERT INTO base (v) VALUES ('held');");
    console.log("locked");
    setTimeout(() => { db.exec("ROLLBACK"); process.exit(0); }, 8000);
  `], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => holder.kill("SIGKILL"));
  await new Promise<void>((resolve) => holder.stdout!.once("data", () => resolve()));
  const started = performance.now();
  await assert.rejects(up({ url: p.db, dir: p.mdir, lockTimeout: "1s" }), (e: StrataError) => {
    assert.equal(e.kind, "lock", e.message);
    assert.equal(e.exitCode, 5);
    assert.match(e.message, /locked by another process/);
    return true;
  });
  assert.ok(performance.now() - started < 6000, "gave up after about the timeout");
  holder.kill("SIGKILL");
  await new Promise((r) => holder.once("close", r));
  const db = openDb(t, p.db);
  assert.equal((await db.execute("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'x'")).rows[0]!.n, 0);
});
