/**
 * strata rehearse: migrations tried on a copy, never on the original. A migration the data
 * breaks (duplicates under a new UNIQUE index) is reported with file, line and statement and
 * exit 1 while the original keeps its bytes; a good one reports rows written, rebuilds, times
 * and runs its down; against the real sqld the server's data is untouched, with a read-only
 * token proving no write reached it; deploy --rehearse stops before changing anything.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Client } from "@libsql/client";
import { rehearse } from "../src/commands/rehearse.ts";
import { up } from "../src/commands/migrate.ts";
import { json, strata, tempDir, writeFiles } from "./support/cli.ts";
import { NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";
import { startCountingProxy } from "./support/counting-proxy.ts";

type T = Parameters<typeof tempDir>[0];

const BASE = {
  "001_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);\n",
  "001_users.down.sql": "DROP TABLE users;\n",
};
const SEED = "INSERT INTO users (email, name) VALUES ('a@x', 'ada'), ('b@x', 'bob'), ('a@x', 'again')";

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** A project whose database has 001 applied and three users (two share an email). */
async function project(t: T, pending: Record<string, string>): Promise<{ root: string; dir: string; db: string }> {
  const root = tempDir(t);
  const dir = path.join(root, "migrations");
  writeFiles(dir, BASE);
  const db = path.join(root, "app.db");
  await up({ url: db, dir });
  const { createClient } = await import("@libsql/client");
  const c = createClient({ url: `file:${db}` });
  await c.execute(SEED);
  c.close();
  writeFiles(dir, pending);
  return { root, dir, db };
}

const UNIQUE = {
  "002_unique_email.up.sql": "-- one account per address\nCREATE UNIQUE INDEX ux_users_email ON users (email);\n",
  "002_unique_email.down.sql": "DROP INDEX ux_users_email;\n",
};

test("rehearse: duplicates under a new UNIQUE index fail the migration on the copy — file, line, statement, exit 1 — and the original keeps its bytes", async (t) => {
  const { root, dir, db } = await project(t, UNIQUE);
  const hash = sha256(db);
  const r = await rehearse({ url: db, dir });
  assert.equal(r.ok, false);
  assert.equal(r.failure?.phase, "up");
  assert.equal(r.failure?.version, "002");
  assert.equal(r.failure?.file, path.join(dir, "002_unique_email.up.sql"));
  assert.equal(r.failure?.line, 2);
  assert.match(r.failure!.statement!, /CREATE UNIQUE INDEX ux_users_email/);
  assert.match(r.failure!.message, /UNIQUE constraint failed: users\.email/);
  assert.equal(sha256(db), hash);

  const cli = await strata(["rehearse", "--url", db], { cwd: root });
  assert.equal(cli.code, 1, cli.stderr);
  assert.match(cli.stdout, /FAILED \(up of 002\): migrations\/002_unique_email\.up\.sql:2: .*UNIQUE constraint failed/);
  assert.match(cli.stdout, /statement: CREATE UNIQUE INDEX ux_users_email/);
  assert.equal(sha256(db), hash);
  assert.deepEqual(fs.readdirSync(root).sort(), ["app.db", "migrations"]); // no journal, no backup left here
  const status = json(await strata(["status", "--url", db, "--json"], { cwd: root }));
  assert.deepEqual(status.pending.map((m: { version: string }) => m.version), ["002"]);
});

test("rehearse: a good migration reports rows written per table, rebuilt tables with rows, times; its down runs and it is applied again", async (t) => {
  const { root, dir, db } = await project(t, {
    "002_rebuild.up.sql": `UPDATE users SET name = upper(name) WHERE id < 3;
CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT, name TEXT NOT NULL DEFAULT '');
INSERT INTO users_new SELECT id, email, coalesce(name, '') FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
`,
    "002_rebuild.down.sql": `CREATE TABLE users_old (id INTEGER PRIMARY KEY, email TEXT, name TEXT);
INSERT INTO users_old SELECT * FROM users;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
`,
    "003_posts.ts": `export async function up(tx) {
  await tx.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), title TEXT)");
  await tx.execute("INSERT INTO posts (user_id, title) SELECT id, 'hello ' || name FROM users");
  await tx.execute("UPDATE users SET name = name || '!' WHERE id = 3");
}
export async function down(tx) {
  await tx.execute("DROP TABLE posts");
}
`,
  });
  const hash = sha256(db);
  const r = await rehearse({ url: db, dir });
  assert.equal(r.ok, true, JSON.stringify(r.failure));
  assert.equal(r.copy?.kind, "snapshot");
  assert.deepEqual(r.migrations.map((m) => m.version), ["002", "003"]);
  const [rebuild, posts] = r.migrations as [(typeof r.migrations)[0], (typeof r.migrations)[0]];
  assert.deepEqual(rebuild.rowsChanged, { users: 2 });
  assert.deepEqual(rebuild.rebuilt, [{ table: "users", rows: 3 }]);
  assert.deepEqual(posts.rowsChanged, { users: 1 }); // posts is new: its rows are not "changed" rows (a TS migration's writes count too)
  assert.deepEqual(posts.rebuilt, []);
  assert.deepEqual(posts.violations, {});
  for (const m of r.migrations) {
    assert.ok(m.durationMs >= 0 && m.lockMs >= 0);
    assert.ok(m.downMs !== null && m.reapplyMs !== null, `${m.version} was reverted and applied again`);
  }
  assert.deepEqual(r.integrity, []);
  assert.equal(r.to, "003");
  assert.equal(sha256(db), hash);
  const text = await strata(["rehearse", "--url", db], { cwd: root });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /002_rebuild .* users 2 +users \(3\)/);
});

test("rehearse: a migration without a down stops the revert there and says so", async (t) => {
  const { db, dir } = await project(t, { "002_bio.up.sql": "ALTER TABLE users ADD COLUMN bio TEXT;\n" });
  const r = await rehearse({ url: db, dir });
  assert.equal(r.ok, true);
  assert.deepEqual(r.irreversible, ["002"]);
  assert.equal(r.migrations[0]!.downMs, null);
  assert.equal(r.migrations[0]!.rowsChanged, null);
});

test("rehearse: a down that fails on real data fails the rehearsal (exit 1); nothing pending makes no copy", async (t) => {
  const { db, dir, root } = await project(t, { "002_bio.up.sql": "ALTER TABLE users ADD COLUMN bio TEXT;\n", "002_bio.down.sql": "DELETE FROM nowhere;\n" });
  const hash = sha256(db);
  const r = await rehearse({ url: db, dir });
  assert.equal(r.ok, false);
  assert.deepEqual([r.failure?.phase, r.failure?.version, r.failure?.file, r.failure?.line], ["down", "002", path.join(dir, "002_bio.down.sql"), 1]);
  assert.match(r.failure!.message, /no such table: nowhere/);
  assert.equal(sha256(db), hash);
  fs.rmSync(path.join(dir, "002_bio.up.sql"));
  fs.rmSync(path.join(dir, "002_bio.down.sql"));
  const none = await rehearse({ url: db, dir });
  assert.deepEqual([none.ok, none.copy, none.from], [true, null, "001"]);
  const cli = await strata(["rehearse", "--url", db], { cwd: root });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /nothing pending: .* is at 001/);
});

test("deploy --rehearse: a failing rehearsal stops the deploy before the backup, the migration or the app", async (t) => {
  const { root, db } = await project(t, UNIQUE);
  const hash = sha256(db);
  const marker = path.join(root, "started");
  const r = await strata(["deploy", "--rehearse", "--url", db, "--json", "--", `touch ${marker}`], { cwd: root });
  const out = json(r);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(out.failedStep, "rehearse");
  assert.deepEqual(out.steps.map((s: { step: string }) => s.step), ["rehearse"]);
  assert.match(out.steps[0].detail, /002_unique_email\.up\.sql:2.*UNIQUE constraint failed/);
  assert.equal(fs.existsSync(marker), false);
  assert.equal(fs.existsSync(path.join(root, "backups")), false);
  assert.equal(sha256(db), hash);
});

let server: Sqld | undefined;
before(async () => {
  if (!NO_SQLD) server = await startSqld({ namespaces: true });
});
after(() => server?.stop());

async function contents(client: Client): Promise<string> {
  const schema = await client.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name");
  const users = await client.execute("SELECT * FROM users ORDER BY id");
  const versions = await client.execute("SELECT version, checksum, applied_at FROM strata_migrations ORDER BY version");
  const log = await client.execute("SELECT * FROM strata_migrations_log ORDER BY id");
  const lock = await client.execute("SELECT * FROM strata_migrations_lock");
  return JSON.stringify([schema.rows, users.rows, versions.rows, log.rows, lock.rows]);
}

test("rehearse against sqld: a dump is rehearsed locally; with a read-only token through a counting proxy, the server's data is untouched", { skip: NO_SQLD }, async (t) => {
  const db = await server!.freshDatabase(t);
  const root = tempDir(t);
  const dir = path.join(root, "migrations");
  // 001 applied by strata on the server, so the dump carries the version table: 002 is pending.
  writeFiles(dir, BASE);
  await up({ url: db.url, authToken: db.token, dir });
  await db.client.execute(SEED);
  writeFiles(dir, { "002_bio.up.sql": "ALTER TABLE users ADD COLUMN bio TEXT;\nUPDATE users SET bio = name;\n", "002_bio.down.sql": "ALTER TABLE users DROP COLUMN bio;\n" });
  const beforeRun = await contents(db.client);
  const readOnly = server!.sign({ a: "ro" });
  const proxy = await startCountingProxy(db.url);
  t.after(() => proxy.close());

  // The token really is read-only on this server: a write through it is refused.
  const { createClient } = await import("@libsql/client");
  const probe = createClient({ url: proxy.url, authToken: readOnly });
  await assert.rejects(probe.execute("INSERT INTO users (email) VALUES ('nope')"));
  probe.close();
  proxy.resetStats();

  const r = await rehearse({ url: proxy.url, authToken: readOnly, dir });
  assert.equal(r.ok, true, JSON.stringify(r.failure));
  assert.equal(r.copy?.kind, "dump");
  assert.deepEqual(r.migrations.map((m) => m.version), ["002"]);
  assert.deepEqual(r.migrations[0]!.rowsChanged, { users: 3 });
  assert.ok(proxy.stats.pipelines > 0, "the dump was read through the proxy");
  assert.equal(await contents(db.client), beforeRun);
  const cli = await strata(["rehearse", "--url", proxy.url, "--json"], { cwd: root, env: { DATABASE_AUTH_TOKEN: readOnly } });
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(json(cli).copy.kind, "dump");
  assert.ok(!cli.stdout.includes(readOnly) && !cli.stderr.includes(readOnly), "the token is never printed");
  assert.equal(await contents(db.client), beforeRun);
});

test("deploy --rehearse: a good rehearsal, then the deploy goes on (backup, up, start, health)", async (t) => {
  const { root, db } = await project(t, { "002_bio.up.sql": "ALTER TABLE users ADD COLUMN bio TEXT;\n", "002_bio.down.sql": "ALTER TABLE users DROP COLUMN bio;\n" });
  // The start command is a launcher that exits at once; the health check outlasts it, so the
  // deploy never sees the app still running (which would add a "run" step) whatever the load.
  const r = await strata(["deploy", "--rehearse", "--url", db, "--health-cmd", "sleep 1", "--json", "--", "true"], { cwd: root });
  const out = json(r);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(out.steps.map((s: { step: string; outcome: string }) => `${s.step}:${s.outcome}`), ["rehearse:ok", "backup:ok", "up:ok", "start:ok", "health:ok"]);
  assert.equal(out.to, "002");
});
