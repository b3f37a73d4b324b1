/**
 * strata lint: every rule fires on the change it is about and stays quiet on the nearest safe
 * change; suppression needs a reason; TS migrations are linted by running them on the scratch
 * schema; the CLI forms (text, --json, --format github, exit codes, pending vs offline).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { lint, type LintResult } from "../src/commands/lint.ts";
import { lossyTypeChange } from "../src/lint/rules.ts";
import { json, strata, tempDir, writeFiles } from "./support/cli.ts";

type T = Parameters<typeof tempDir>[0];

const USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, age TEXT, score INTEGER)";
const POSTS = "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT)";
const BASE = {
  "001_base.up.sql": `${USERS};\n${POSTS};\n`,
  "001_base.down.sql": "DROP TABLE posts;\nDROP TABLE users;\n",
};

/** `users` rebuilt the way SQLite documents it, with `columns` as its new column list. */
function rebuildUsers(columns: string, select: string, extra = ""): string {
  return `CREATE TABLE users_new (${columns}${extra});
INSERT INTO users_new SELECT ${select} FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
`;
}
const SAME_USERS = rebuildUsers("id INTEGER PRIMARY KEY, email TEXT, name TEXT, age TEXT, score INTEGER", "id, email, name, age, score");

/** Lints 001 (base) + 002 (`up`, `down`: undefined = no down file) and returns 002's codes. */
async function lint002(t: T, up: string, down?: string, ext: "sql" | "ts" = "sql"): Promise<{ codes: string[]; result: LintResult; dir: string }> {
  const dir = path.join(tempDir(t), "migrations");
  const files: Record<string, string> = { ...BASE };
  if (ext === "ts") files["002_change.ts"] = up;
  else {
    files["002_change.up.sql"] = up;
    if (down !== undefined) files["002_change.down.sql"] = down;
  }
  writeFiles(dir, files);
  const result = await lint({ dir, all: true });
  return { codes: result.findings.filter((f) => f.version === "002" && !f.suppressed).map((f) => f.code), result, dir };
}

const RESTORE_POSTS = `${POSTS};\n`;

interface Case {
  code: string;
  fires: { up: string; down?: string };
  quiet: { up: string; down?: string };
}

const CASES: Case[] = [
  { code: "destructive.drop-table", fires: { up: "DROP TABLE posts;", down: RESTORE_POSTS }, quiet: { up: "CREATE TABLE scratch (x);\nDROP TABLE scratch;" } },
  { code: "destructive.drop-column", fires: { up: "ALTER TABLE users DROP COLUMN score;", down: "ALTER TABLE users ADD COLUMN score INTEGER;" }, quiet: { up: "ALTER TABLE users ADD COLUMN bio TEXT;", down: "ALTER TABLE users DROP COLUMN bio;" } },
  { code: "incompatible.drop-column", fires: { up: "ALTER TABLE users DROP COLUMN score;", down: "ALTER TABLE users ADD COLUMN score INTEGER;" }, quiet: { up: "ALTER TABLE users RENAME COLUMN score TO points;", down: "ALTER TABLE users RENAME COLUMN points TO score;" } },
  {
    code: "destructive.rebuild-drops-column",
    fires: { up: rebuildUsers("id INTEGER PRIMARY KEY, email TEXT, name TEXT, score INTEGER", "id, email, name, score"), down: "ALTER TABLE users ADD COLUMN age TEXT;" },
    quiet: { up: SAME_USERS },
  },
  {
    code: "destructive.type-change",
    fires: { up: rebuildUsers("id INTEGER PRIMARY KEY, email TEXT, name TEXT, age INTEGER, score INTEGER", "id, email, name, age, score"), down: SAME_USERS },
    quiet: { up: rebuildUsers("id INTEGER PRIMARY KEY, email TEXT, name VARCHAR(80), age TEXT, score INTEGER", "id, email, name, age, score"), down: SAME_USERS },
  },
  { code: "incompatible.rename-table", fires: { up: "ALTER TABLE posts RENAME TO articles;", down: "ALTER TABLE articles RENAME TO posts;" }, quiet: { up: SAME_USERS } },
  {
    code: "incompatible.rename-column",
    fires: { up: "ALTER TABLE users RENAME COLUMN name TO full_name;", down: "ALTER TABLE users RENAME COLUMN full_name TO name;" },
    quiet: { up: "CREATE TABLE tags (a TEXT);\nALTER TABLE tags RENAME COLUMN a TO label;", down: "DROP TABLE tags;" },
  },
  {
    code: "incompatible.not-null-without-default",
    fires: { up: rebuildUsers("id INTEGER PRIMARY KEY, email TEXT, name TEXT, age TEXT, score INTEGER, nick TEXT NOT NULL", "id, email, name, age, score, ''"), down: "ALTER TABLE users DROP COLUMN nick;" },
    quiet: { up: "ALTER TABLE users ADD COLUMN nick TEXT NOT NULL DEFAULT '';", down: "ALTER TABLE users DROP COLUMN nick;" },
  },
  {
    code: "data-dependent.unique",
    fires: { up: "CREATE UNIQUE INDEX ux_users_email ON users (email);", down: "DROP INDEX ux_users_email;" },
    quiet: { up: "CREATE INDEX ix_users_email ON users (email);\nCREATE TABLE codes (c TEXT);\nCREATE UNIQUE INDEX ux_codes ON codes (c);", down: "DROP INDEX ix_users_email;\nDROP TABLE codes;" },
  },
  {
    code: "data-dependent.not-null",
    fires: { up: rebuildUsers("id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, age TEXT, score INTEGER", "id, email, name, age, score"), down: SAME_USERS },
    quiet: { up: SAME_USERS },
  },
  {
    code: "data-dependent.check",
    fires: { up: rebuildUsers("id INTEGER PRIMARY KEY, email TEXT, name TEXT, age TEXT, score INTEGER", "id, email, name, age, score", ", CHECK (score >= 0)"), down: SAME_USERS },
    quiet: { up: "CREATE TABLE ratings (stars INTEGER CHECK (stars BETWEEN 1 AND 5));", down: "DROP TABLE ratings;" },
  },
  {
    code: "data-dependent.foreign-key",
    fires: {
      up: "CREATE TABLE posts_new (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), title TEXT);\nINSERT INTO posts_new SELECT * FROM posts;\nDROP TABLE posts;\nALTER TABLE posts_new RENAME TO posts;",
      down: "CREATE TABLE posts_old (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT);\nINSERT INTO posts_old SELECT * FROM posts;\nDROP TABLE posts;\nALTER TABLE posts_old RENAME TO posts;",
    },
    quiet: { up: "CREATE TABLE likes (user_id INTEGER REFERENCES users (id));", down: "DROP TABLE likes;" },
  },
  { code: "costly.rebuild", fires: { up: SAME_USERS }, quiet: { up: "ALTER TABLE users ADD COLUMN bio TEXT;", down: "ALTER TABLE users DROP COLUMN bio;" } },
  { code: "reversibility.missing-down", fires: { up: "DROP TABLE posts;" }, quiet: { up: "DROP TABLE posts;", down: RESTORE_POSTS } },
  { code: "reversibility.not-exact", fires: { up: "ALTER TABLE users ADD COLUMN bio TEXT;", down: "SELECT 1;" }, quiet: { up: "ALTER TABLE users ADD COLUMN bio TEXT;", down: "ALTER TABLE users DROP COLUMN bio;" } },
  { code: "reversibility.down-fails", fires: { up: "ALTER TABLE users ADD COLUMN bio TEXT;", down: "DROP TABLE nowhere;" }, quiet: { up: "ALTER TABLE users ADD COLUMN bio TEXT;", down: "ALTER TABLE users DROP COLUMN bio;" } },
  { code: "migration.fails", fires: { up: "ALTER TABLE nowhere ADD COLUMN x;" }, quiet: { up: "ALTER TABLE users ADD COLUMN x;" } },
];

for (const c of CASES) {
  test(`lint ${c.code}: fires on the change it is about, quiet on the nearest safe one`, async (t) => {
    const fired = await lint002(t, c.fires.up, c.fires.down);
    assert.ok(fired.codes.includes(c.code), `${c.code} should fire; got ${fired.codes.join(", ") || "nothing"}`);
    const quiet = await lint002(t, c.quiet.up, c.quiet.down);
    assert.ok(!quiet.codes.includes(c.code), `${c.code} should not fire; got ${quiet.codes.join(", ")}`);
    // The safe change really ran (and its down too): quiet is not a broken migration.
    assert.ok(!quiet.codes.some((x) => x === "migration.fails" || x === "reversibility.down-fails"), quiet.codes.join(", "));
  });
}

test("lint: a finding names file:line of the statement, and says what to do", async (t) => {
  const { result, dir } = await lint002(t, "-- drop the posts\nALTER TABLE users ADD COLUMN bio TEXT;\nDROP TABLE posts;\n", RESTORE_POSTS + "ALTER TABLE users DROP COLUMN bio;\n");
  const drop = result.findings.find((f) => f.code === "destructive.drop-table")!;
  assert.equal(drop.file, path.join(dir, "002_change.up.sql"));
  assert.equal(drop.line, 3);
  assert.equal(drop.severity, "error");
  assert.match(drop.message, /"posts"/);
  assert.ok(drop.advice.length > 10);
  assert.equal(result.ok, false);
  // A new constraint points at the statement that writes it: the rebuilt table's CREATE.
  const tighten = await lint002(t, "-- tighten\n" + rebuildUsers("id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, age TEXT, score INTEGER", "id, email, name, age, score"), SAME_USERS);
  assert.equal(tighten.result.findings.find((f) => f.code === "data-dependent.not-null")!.line, 2);
});

test("lint: an empty .down.sql counts as missing for a destructive up", async (t) => {
  const { codes } = await lint002(t, "DROP TABLE posts;", "-- strata:empty\n");
  assert.ok(codes.includes("reversibility.missing-down"), codes.join(", "));
});

test("lint: the reversibility check reports what differs after up then down", async (t) => {
  const { result } = await lint002(t, "ALTER TABLE users ADD COLUMN bio TEXT;\nCREATE INDEX ix_users_name ON users (name);", "ALTER TABLE users DROP COLUMN bio;");
  const f = result.findings.find((x) => x.code === "reversibility.not-exact")!;
  assert.match(f.message, /ix_users_name/);
  // Column order counts too: dropping and re-adding a middle column is not exact.
  const order = await lint002(t, "ALTER TABLE users DROP COLUMN name;", "ALTER TABLE users ADD COLUMN name TEXT;");
  assert.ok(order.codes.includes("reversibility.not-exact"), order.codes.join(", "));
});

test("lint: lossy type changes follow SQLite's affinities", () => {
  assert.equal(lossyTypeChange("TEXT", "INTEGER"), true); // '007' becomes 7
  assert.equal(lossyTypeChange("REAL", "TEXT"), true); // 15 significant digits
  assert.equal(lossyTypeChange("INTEGER", "REAL"), true); // beyond 2^53
  assert.equal(lossyTypeChange("VARCHAR(10)", "TEXT"), false);
  assert.equal(lossyTypeChange("INTEGER", "TEXT"), false);
  assert.equal(lossyTypeChange("TEXT", "BLOB"), false);
});

test("lint: a directive with a reason suppresses its category; without a reason it is an error and suppresses nothing", async (t) => {
  const withReason = await lint002(t, '-- strata:lint-ignore destructive "posts were moved to the archive in v3"\nDROP TABLE posts;\n', RESTORE_POSTS);
  const drop = withReason.result.findings.find((f) => f.code === "destructive.drop-table")!;
  assert.deepEqual(drop.suppressed, { reason: "posts were moved to the archive in v3", line: 1 });
  assert.equal(withReason.result.ok, true);
  assert.equal(withReason.result.suppressed, 1);

  const noReason = await lint002(t, "-- strata:lint-ignore destructive\nDROP TABLE posts;\n", RESTORE_POSTS);
  assert.deepEqual(noReason.codes.sort(), ["destructive.drop-table", "lint.ignore-without-reason"]);
  assert.equal(noReason.result.ok, false);

  const unknown = await lint002(t, '-- strata:lint-ignore destrucive "typo"\nDROP TABLE posts;\n', RESTORE_POSTS);
  assert.ok(unknown.codes.includes("lint.ignore-unknown"));
  assert.ok(unknown.codes.includes("destructive.drop-table"));

  // A rule code suppresses only that rule.
  const byCode = await lint002(t, '-- strata:lint-ignore costly.rebuild "users has 40 rows"\n' + SAME_USERS);
  assert.deepEqual(byCode.codes, []);
  assert.equal(byCode.result.suppressed, 1);
});

test("lint: a TS migration is linted by what it executes; its lines and // directives count", async (t) => {
  const ts = `import type { Transaction } from "@libsql/client";
export async function up(tx: Transaction): Promise<void> {
  await tx.execute("UPDATE users SET name = upper(name)");
  await tx.batch(["ALTER TABLE users DROP COLUMN score"]);
}
`;
  const { result, dir } = await lint002(t, ts, undefined, "ts");
  const drop = result.findings.find((f) => f.code === "destructive.drop-column")!;
  assert.equal(drop.file, path.join(dir, "002_change.ts"));
  assert.equal(drop.line, 4);
  assert.ok(result.findings.some((f) => f.code === "reversibility.missing-down"));
  const suppressed = await lint002(t, `// strata:lint-ignore destructive,reversibility,incompatible "score is recomputed nightly"\n${ts}`, undefined, "ts");
  assert.deepEqual(suppressed.codes, []);
});

test("lint CLI: --format github annotations, --json, exit 1 on errors, 0 on warnings", async (t) => {
  const root = tempDir(t);
  writeFiles(path.join(root, "migrations"), { ...BASE, "002_drop.up.sql": "DROP TABLE posts;\n", "002_drop.down.sql": RESTORE_POSTS });
  const gh = await strata(["lint", "--all", "--format", "github"], { cwd: root });
  assert.equal(gh.code, 1, gh.stderr);
  assert.match(gh.stdout, /^::error file=migrations\/002_drop\.up\.sql,line=1,title=destructive\.drop-table::drops table "posts"/m);
  const j = await strata(["lint", "--all", "--json"], { cwd: root });
  const out = json(j);
  assert.equal(j.code, 1);
  assert.equal(out.ok, false);
  assert.equal(out.command, "lint");
  assert.equal(out.errors, 1);
  assert.equal(out.findings[0].code, "destructive.drop-table");
  writeFiles(path.join(root, "migrations"), { "002_drop.up.sql": "ALTER TABLE posts RENAME TO articles;\n", "002_drop.down.sql": "ALTER TABLE articles RENAME TO posts;\n" });
  const warn = await strata(["lint", "--all"], { cwd: root });
  assert.equal(warn.code, 0, warn.stderr);
  assert.match(warn.stdout, /002_drop\.up\.sql:1: warning incompatible\.rename-table/);
});

test("lint: pending needs the database; --base and RANGE work offline", async (t) => {
  const root = tempDir(t);
  const dir = path.join(root, "migrations");
  writeFiles(dir, { ...BASE, "002_drop.up.sql": "DROP TABLE posts;\n", "002_drop.down.sql": RESTORE_POSTS, "003_idx.up.sql": "CREATE UNIQUE INDEX ux ON users (email);\n", "003_idx.down.sql": "DROP INDEX ux;\n" });
  const noDb = await strata(["lint"], { cwd: root });
  assert.equal(noDb.code, 2);
  assert.match(noDb.stderr, /--all, --base REV or a RANGE/);
  const db = path.join(root, "app.db");
  assert.equal((await strata(["up", "--to", "002", "--url", db], { cwd: root })).code, 0);
  const pending = await lint({ dir, url: db });
  assert.deepEqual(pending.migrations.map((m) => m.version), ["003"]);
  assert.equal(pending.selection, "pending");
  assert.deepEqual(pending.findings.map((f) => f.code), ["data-dependent.unique"]);
  assert.deepEqual((await lint({ dir, base: "001" })).migrations.map((m) => m.version), ["002", "003"]);
  assert.deepEqual((await lint({ dir, range: "002" })).migrations.map((m) => m.version), ["002"]);
  assert.deepEqual((await lint({ dir, range: "..002" })).migrations.map((m) => m.version), ["001", "002"]);
});

test("lint: the shipped calendar history has no errors", async () => {
  const r = await lint({ dir: path.resolve("migrations"), all: true });
  assert.equal(r.errors, 0, JSON.stringify(r.findings, null, 1));
  assert.ok(r.findings.some((f) => f.code === "incompatible.rename-column" && f.version === "20240320150000"));
  assert.ok(r.findings.some((f) => f.code === "costly.rebuild" && f.version === "20240410080000"));
});
