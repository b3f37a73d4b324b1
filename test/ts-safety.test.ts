/**
 * A TypeScript migration cannot break atomicity, end strata early, or hang for ever (issue 21).
 * Hostile migrations run through the CLI from source (exit codes, the lock, the audit row) and,
 * for the transaction guard, through the library against a local file and the real sqld.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createClient } from "@libsql/client";
import { up } from "../src/commands/migrate.ts";
import { runTsMigration } from "../src/script/ts-runner.ts";
import { StrataError } from "../src/errors.ts";
import { openDb, rejectsWith, strata, tempDir, writeFiles } from "./support/cli.ts";
import { NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";

type T = Parameters<typeof tempDir>[0];

const FIRST = { "001_a.up.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY);\n", "001_a.down.sql": "DROP TABLE a;\n" };
const LAST = { "003_c.up.sql": "CREATE TABLE c (id INTEGER PRIMARY KEY);\n", "003_c.down.sql": "DROP TABLE c;\n" };
const FIXED = `export async function up(tx) {\n  await tx.execute("CREATE TABLE b (x)");\n  await tx.execute("INSERT INTO b VALUES (1)");\n}\n`;

/** As in an ESM project; without it tsx compiles the migration to one line and stack lines say nothing. */
const ESM_PACKAGE = { "package.json": `{ "type": "module" }\n` };

/** 001 (SQL), 002_bad.ts with `body` as its up(), 003 (SQL). */
function project(t: T, body: string, extra = "") {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  writeFiles(mdir, { ...FIRST, "002_bad.ts": `${extra}export async function up(tx) {\n${body}\n}\n`, ...LAST });
  writeFiles(dir, ESM_PACKAGE);
  const file = path.join(dir, "app.db");
  return { dir, mdir, file, args: ["--url", file, "--dir", mdir] };
}

/** What the database holds after a failed run of 002: only 001, no lock, an audit row saying error. */
async function assertFailedAt002(t: T, file: string) {
  const db = openDb(t, file);
  const tables = (await db.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('b', 'c')")).rows;
  assert.deepEqual(tables, [], "nothing of 002 (table b) nor 003 is there");
  const versions = (await db.execute("SELECT version FROM strata_migrations ORDER BY version")).rows.map((r) => String(r.version));
  assert.deepEqual(versions, ["001"]);
  assert.equal((await db.execute("SELECT count(*) AS n FROM strata_migrations_lock")).rows[0]!.n, 0, "lock released");
  const log = (await db.execute("SELECT result, message FROM strata_migrations_log ORDER BY id DESC LIMIT 1")).rows[0]!;
  assert.equal(log.result, "error");
  assert.match(String(log.message), /002_bad\.ts/);
}

async function fixAndRerun(t: T, p: ReturnType<typeof project>) {
  fs.writeFileSync(path.join(p.mdir, "002_bad.ts"), FIXED);
  const r = await strata(["up", ...p.args]);
  assert.equal(r.code, 0, r.stderr);
  const db = openDb(t, p.file);
  const versions = (await db.execute("SELECT version FROM strata_migrations ORDER BY version")).rows.map((r) => String(r.version));
  assert.deepEqual(versions, ["001", "002", "003"]);
  assert.equal((await db.execute("SELECT count(*) AS n FROM b")).rows[0]!.n, 1);
}

const FAILING = `  await tx.execute("INSERT INTO missing_table VALUES (1)");`;
const ENDS_TX: Record<string, string> = {
  "tx.commit()": `  await tx.execute("CREATE TABLE b (x)");\n  await tx.execute("INSERT INTO b VALUES (1)");\n  await tx.commit();\n${FAILING}`,
  'tx.execute("COMMIT")': `  await tx.execute("CREATE TABLE b (x)");\n  await tx.execute("INSERT INTO b VALUES (1)");\n  await tx.execute("COMMIT");\n${FAILING}`,
  "executeMultiple(… COMMIT; BEGIN;)": `  await tx.executeMultiple("CREATE TABLE b(x); INSERT INTO b VALUES (1); COMMIT; BEGIN;");\n${FAILING}`,
};

for (const [name, body] of Object.entries(ENDS_TX)) {
  test(`CLI: ${name} inside up() is refused with file:line; nothing of it commits; fixed, the next up works`, async (t) => {
    const p = project(t, body);
    const r = await strata(["up", ...p.args]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /002_bad\.ts:\d+/);
    assert.match(r.stderr, /refused/);
    await assertFailedAt002(t, p.file);
    await fixAndRerun(t, p);
  });
}

const ESCAPES: Record<string, { body: string; args?: string[]; extra?: string; message: RegExp }> = {
  "process.exit(0)": { body: `  await tx.execute("CREATE TABLE b (x)");\n  process.exit(0);`, message: /process\.exit\(0\)/ },
  "process.exit(3)": { body: `  await tx.execute("CREATE TABLE b (x)");\n  process.exit(3);`, message: /process\.exit\(3\)/ },
  "an unhandled rejection": {
    body: `  await tx.execute("CREATE TABLE b (x)");\n  Promise.reject(new Error("boom"));\n  await new Promise((r) => setTimeout(r, 300));`,
    message: /boom.*unhandled/,
  },
  "an uncaught exception": {
    body: `  await tx.execute("CREATE TABLE b (x)");\n  setTimeout(() => { throw new Error("kaboom"); }, 10);\n  await new Promise((r) => setTimeout(r, 300));`,
    message: /kaboom/,
  },
  "a promise that never settles (--migration-timeout 1s)": {
    body: `  await tx.execute("CREATE TABLE b (x)");\n  await new Promise(() => {});`,
    args: ["--migration-timeout", "1s"],
    message: /did not finish within 1s/,
  },
  'a forgotten setInterval (export const timeout = "1s")': {
    body: `  await tx.execute("CREATE TABLE b (x)");\n  setInterval(() => {}, 50);\n  await new Promise(() => {});`,
    extra: `export const timeout = "1s";\n`,
    message: /did not finish within 1s/,
  },
};

test("CLI: process.exit, unhandled rejections, uncaught exceptions and hangs in up() are failed, rolled-back migrations (exit 1, lock released, audit row)", async (t) => {
  const cases = Object.entries(ESCAPES).map(([name, c]) => ({ name, c, p: project(t, c.body, c.extra) }));
  // Two at a time: the machine is shared.
  for (let i = 0; i < cases.length; i += 2) {
    await Promise.all(
      cases.slice(i, i + 2).map(async ({ name, c, p }) => {
        const r = await strata(["up", ...p.args, ...(c.args ?? [])], { timeoutMs: 30_000 });
        assert.equal(r.code, 1, `${name}: ${r.stderr}`);
        assert.match(r.stderr, /002_bad\.ts/, name);
        assert.match(r.stderr, c.message, name);
        assert.match(r.stderr, /rolled back/, name);
        await assertFailedAt002(t, p.file);
      }),
    );
  }
  await fixAndRerun(t, cases[0]!.p);
});

test("CLI: the timeout comes from strata.toml; a migration's own export wins over it; --no-timeout lifts every limit", async (t) => {
  const slow = `  await new Promise((r) => setTimeout(r, 1500));\n  await tx.execute("CREATE TABLE b (x)");`;
  const viaConfig = project(t, slow);
  fs.writeFileSync(path.join(viaConfig.dir, "strata.toml"), `migration_timeout = "1s"\n`);
  const ownExport = project(t, slow, `export const timeout = "1s";\n`);
  const [a, b, c, d] = await Promise.all([
    strata(["up", ...viaConfig.args], { cwd: viaConfig.dir }),
    strata(["up", ...ownExport.args, "--migration-timeout", "1h"]),
  ]).then(async (first) => [...first, ...(await Promise.all([strata(["up", ...viaConfig.args, "--no-timeout"], { cwd: viaConfig.dir }), strata(["up", ...ownExport.args, "--no-timeout"])]))]);
  assert.equal(a!.code, 1, a!.stderr);
  assert.match(a!.stderr, /did not finish within 1s/);
  assert.equal(b!.code, 1, "the file's 1s beats the flag's 1h");
  assert.equal(c!.code, 0, c!.stderr);
  assert.equal(d!.code, 0, d!.stderr);
});

test("CLI: a migration that succeeds but leaves a timer running does not keep strata from exiting", async (t) => {
  const p = project(t, `  setInterval(() => {}, 1000);\n  await tx.execute("CREATE TABLE b (x)");`);
  const r = await strata(["up", ...p.args, "--json"], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).steps.map((s: { version: string }) => s.version), ["001", "002", "003"]);
});

// ---------------------------------------------------------------- the guard, in process

/** Disguises of transaction control, each after a table was created in the same migration. */
const DISGUISES: Record<string, string> = {
  "lower case after a block comment": `await tx.execute("/* hi */ commit")`,
  "a statement object, after a line comment": `await tx.execute({ sql: "-- done\\n  END TRANSACTION", args: [] })`,
  "second statement of execute()": `await tx.execute("SELECT 1; ROLLBACK")`,
  "in a batch": `await tx.batch(["INSERT INTO b VALUES (2)", "SAVEPOINT s"])`,
  "RELEASE in executeMultiple": `await tx.executeMultiple("INSERT INTO b VALUES (2);\\n\\nrelease s;")`,
  "BEGIN in executeMultiple": `await tx.executeMultiple("BEGIN IMMEDIATE")`,
  "rollback()": `await tx.rollback()`,
  "close()": `tx.close()`,
  "a refusal the migration catches": `try { await tx.execute("COMMIT") } catch {}`,
};

function guardProject(t: T) {
  const dir = tempDir(t);
  const mdir = path.join(dir, "migrations");
  const files: Record<string, string> = {};
  let v = 1;
  for (const call of Object.values(DISGUISES)) {
    files[`${String(v++).padStart(3, "0")}_m.ts`] = `export async function up(tx) {\n  await tx.execute("CREATE TABLE b (x)");\n  ${call};\n  await tx.execute("INSERT INTO b VALUES (1)");\n}\n`;
  }
  writeFiles(mdir, files);
  writeFiles(dir, ESM_PACKAGE);
  return { dir, mdir };
}

async function assertEveryDisguiseRefused(url: string, authToken: string | undefined, mdir: string, check: () => Promise<{ b: boolean; versions: number }>) {
  const names = Object.keys(DISGUISES).slice(0, fs.readdirSync(mdir).length);
  for (const name of names) {
    const e = await rejectsWith(up({ url, authToken, dir: mdir, to: "head" }), "migrations", /refused, nothing of it ran/);
    assert.match(e.file ?? "", /_m\.ts$/, name);
    assert.equal(e.line, 3, `${name}: the line of the call`);
    assert.deepEqual(await check(), { b: false, versions: 0 }, name);
    // Next disguise: drop the refused migration from the folder.
    const first = fs.readdirSync(mdir).sort()[0]!;
    fs.rmSync(path.join(mdir, first));
  }
}

test("every disguise of transaction control (case, comments, batch, multi-statement, commit/rollback/close, caught) is refused with file:line; nothing commits", async (t) => {
  const { dir, mdir } = guardProject(t);
  const file = path.join(dir, "app.db");
  const db = openDb(t, file);
  await assertEveryDisguiseRefused(file, undefined, mdir, async () => ({
    b: (await db.execute("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'b'")).rows[0]!.n !== 0,
    versions: Number((await db.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n),
  }));
});

test("backstop: a transaction ended behind the guard's back is detected before the version row is written", async (t) => {
  const dir = tempDir(t);
  const client = createClient({ url: "file:" + path.join(dir, "x.db") });
  t.after(() => client.close());
  const tx = await client.transaction("write");
  t.after(() => tx.close());
  const err = await runTsMigration(
    async (guarded) => {
      await guarded.execute("CREATE TABLE b (x)");
      await tx.execute("COMMIT"); // the raw handle, which a migration never gets
    },
    tx,
    { file: path.join(dir, "002_sneaky.ts"), direction: "up", transaction: true, ownTimeoutMs: undefined },
  ).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof StrataError, String(err));
  assert.match(err.message, /ended the transaction strata opened/);
});

let server: Sqld | undefined;
before(async () => {
  if (!NO_SQLD) server = await startSqld({ namespaces: true });
});
after(() => server?.stop());

test("remote (sqld): refused transaction control leaves nothing; a well-behaved TS migration commits with its version row", { skip: NO_SQLD }, async (t) => {
  const remote = await server!.freshDatabase(t);
  const { mdir } = guardProject(t);
  // Three disguises are enough remotely; the classifier is the same code.
  for (const f of fs.readdirSync(mdir).sort().slice(3)) fs.rmSync(path.join(mdir, f));
  const check = async () => {
    const rs = await remote.client.execute("SELECT name FROM sqlite_schema WHERE name = 'b'");
    const versions = await remote.client.execute("SELECT count(*) AS n FROM strata_migrations").catch(() => ({ rows: [{ n: 0 }] }));
    return { b: rs.rows.length > 0, versions: Number(versions.rows[0]!.n) };
  };
  await assertEveryDisguiseRefused(remote.url, remote.token, mdir, check);
  writeFiles(mdir, { "010_ok.ts": FIXED });
  const r = await up({ url: remote.url, authToken: remote.token, dir: mdir });
  assert.deepEqual(r.steps.map((s) => [s.version, s.outcome]), [["010", "applied"]]);
  assert.equal((await remote.client.execute("SELECT count(*) AS n FROM b")).rows[0]!.n, 1);
});
