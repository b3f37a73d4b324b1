/**
 * The command line as users run it: child processes, exit codes, --json, --help, aliases,
 * configuration precedence.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { json, openDb, strata, tempDir, writeFiles } from "./support/cli.ts";

const FILES = {
  "001_one.up.sql": "CREATE TABLE one (id INTEGER PRIMARY KEY);\n",
  "001_one.down.sql": "DROP TABLE one;\n",
  "002_two.up.sql": "CREATE TABLE two (id INTEGER PRIMARY KEY);\n",
  "002_two.down.sql": "DROP TABLE two;\n",
};

function project(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  writeFiles(path.join(dir, "migrations"), FILES);
  return dir;
}

const VERBS = ["up", "down", "redo", "status", "current", "history", "stamp", "resolve", "unlock", "new"];

test("--help on every command, --version, usage errors exit 2", async () => {
  const results = await Promise.all(VERBS.map((v) => strata([v, "--help"])));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, VERBS[i]);
    // `new` only writes files: it offers no database options.
    assert.match(r.stdout + r.stderr, VERBS[i] === "new" ? /--dir/ : /--url/, `${VERBS[i]} --help lists its options`);
    assert.match(r.stdout + r.stderr, /--json/);
  });
  const top = await strata(["--help"]);
  for (const v of VERBS) assert.match(top.stdout + top.stderr, new RegExp(`\\b${v}\\b`));
  const version = await strata(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^strata \d+\.\d+\.\d+ \(/);
  const bad = await strata(["up", "--no-such-flag"]);
  assert.equal(bad.code, 2);
  const unknown = await strata(["frobnicate"]);
  assert.equal(unknown.code, 2);
});

test("no database URL: an error naming --url, DATABASE_URL and strata.toml; no file created", async (t) => {
  const dir = project(t);
  for (const verb of ["up", "status", "down", "current"]) {
    const r = await strata([verb], { cwd: dir });
    assert.equal(r.code, 2, verb);
    assert.match(r.stderr, /no database URL configured/);
    assert.match(r.stderr, /--url/);
    assert.match(r.stderr, /DATABASE_URL/);
    assert.match(r.stderr, /strata\.toml/);
  }
  assert.deepEqual(fs.readdirSync(dir), ["migrations"]);
});

test("status --exit-code: 3 when pending, 0 at head; --json shapes are stable", async (t) => {
  const dir = project(t);
  const env = { DATABASE_URL: "app.db" };
  let r = await strata(["status", "--exit-code", "--json"], { cwd: dir, env });
  assert.equal(r.code, 3);
  let s = json(r);
  assert.equal(s.ok, true);
  assert.equal(s.command, "status");
  assert.deepEqual(Object.keys(s).sort(), ["applied", "changed", "command", "current", "database", "exists", "failed", "head", "lock", "missing", "ok", "outOfOrder", "pending", "problems"].sort());
  assert.deepEqual(s.pending.map((m: { version: string }) => m.version), ["001", "002"]);
  assert.equal(fs.existsSync(path.join(dir, "app.db")), false, "status creates no database");

  r = await strata(["up", "--json"], { cwd: dir, env });
  assert.equal(r.code, 0, r.stderr);
  const u = json(r);
  assert.deepEqual(Object.keys(u).sort(), ["command", "database", "dryRun", "from", "ok", "plan", "steps", "to", "waitedForLock"].sort());
  assert.deepEqual(u.steps.map((x: { version: string; outcome: string }) => [x.version, x.outcome]), [["001", "applied"], ["002", "applied"]]);
  assert.match(r.stderr, /applying 001_one/, "logs go to stderr");

  r = await strata(["status", "--exit-code", "--json"], { cwd: dir, env });
  assert.equal(r.code, 0);
  s = json(r);
  assert.equal(s.current, "002");
  assert.equal(s.applied[0].appliedAt.endsWith("Z"), true);

  const c = json(await strata(["current", "--json"], { cwd: dir, env }));
  assert.deepEqual(c, { ok: true, command: "current", database: `file:${path.join(dir, "app.db")}`, current: "002", name: "two", isHead: true });
  const h = json(await strata(["history", "--json"], { cwd: dir, env }));
  assert.equal(h.migrations.length, 2);
  const log = json(await strata(["history", "--log", "--json"], { cwd: dir, env }));
  assert.equal(log.log[0].command, "up");
  assert.equal(log.log[0].result, "ok");
});

test("errors: one line with file and line, exit 1, JSON error object; stack only with --verbose", async (t) => {
  const dir = project(t);
  writeFiles(path.join(dir, "migrations"), { "003_bad.up.sql": "CREATE TABLE three (id INTEGER);\nINSERT INTO three VALUES (1);\nSELEC 1;\n" });
  const r = await strata(["up", "--url", "app.db", "--json"], { cwd: dir });
  assert.equal(r.code, 1);
  const e = json(r);
  assert.equal(e.ok, false);
  assert.equal(e.error.kind, "sql");
  assert.equal(e.error.line, 3);
  assert.match(e.error.file, /003_bad\.up\.sql$/);
  assert.match(r.stderr, /003_bad\.up\.sql:3: .*syntax error/);
  const errorLines = r.stderr.split("\n").filter((l) => / error /.test(l));
  assert.equal(errorLines.length, 1, "one line: what, where and what to do");
  assert.match(errorLines[0]!, /003_bad\.up\.sql:3: .* — .*rolled back; fix the statement and run again/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace without --verbose");
  const v = await strata(["up", "--url", "app.db", "--verbose"], { cwd: dir });
  assert.match(v.stderr, /\n\s+at /, "stack trace with --verbose");
  const db = openDb(t, path.join(dir, "app.db"));
  assert.equal((await db.execute("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'three'")).rows[0]!.n, 0);
});

test("Alembic aliases: upgrade head, downgrade -1, revision -m, stamp head", async (t) => {
  const dir = project(t);
  const env = { DATABASE_URL: "file:app.db" };
  assert.equal((await strata(["upgrade", "head"], { cwd: dir, env })).code, 0);
  let c = json(await strata(["current", "--json"], { cwd: dir, env }));
  assert.equal(c.current, "002");
  const d = await strata(["downgrade", "-1"], { cwd: dir, env });
  assert.equal(d.code, 0, d.stderr);
  c = json(await strata(["current", "--json"], { cwd: dir, env }));
  assert.equal(c.current, "001");
  assert.equal((await strata(["stamp", "head"], { cwd: dir, env })).code, 0);
  c = json(await strata(["current", "--json"], { cwd: dir, env }));
  assert.equal(c.current, "002");
  const n = await strata(["revision", "-m", "add user email index"], { cwd: dir });
  assert.equal(n.code, 0, n.stderr);
  assert.match(n.stdout, /\d{14}_add_user_email_index\.up\.sql/);
});

test("configuration precedence: flag > environment > strata.toml > default", async (t) => {
  const dir = project(t);
  writeFiles(path.join(dir, "other"), { "005_other.up.sql": "CREATE TABLE other (id INTEGER);\n" });
  writeFiles(dir, { "strata.toml": 'url = "from-config.db"\ndir = "other"\n' });
  const fromConfig = json(await strata(["status", "--json"], { cwd: dir }));
  assert.equal(fromConfig.database, `file:${path.join(dir, "from-config.db")}`);
  assert.deepEqual(fromConfig.pending.map((m: { version: string }) => m.version), ["005"]);
  const fromEnv = json(await strata(["status", "--json"], { cwd: dir, env: { DATABASE_URL: "from-env.db", STRATA_DIR: "migrations" } }));
  assert.equal(fromEnv.database, `file:${path.join(dir, "from-env.db")}`);
  assert.equal(fromEnv.pending.length, 2);
  const fromFlag = json(await strata(["status", "--json", "--url", "from-flag.db"], { cwd: dir, env: { DATABASE_URL: "from-env.db" } }));
  assert.equal(fromFlag.database, `file:${path.join(dir, "from-flag.db")}`);
  writeFiles(dir, { "strata.toml": 'url = "x.db"\ntypo = 1\n' });
  const bad = await strata(["status"], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown key "typo"/);
});

test("non-TTY logs are timestamped lines; NO_COLOR output has no escape codes", async (t) => {
  const dir = project(t);
  const r = await strata(["up", "--url", "app.db"], { cwd: dir, env: { NO_COLOR: "1" } });
  assert.equal(r.code, 0);
  for (const line of r.stderr.trim().split("\n")) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info|warn|error|debug) /);
  assert.doesNotMatch(r.stdout + r.stderr, /\x1b\[/);
  const q = await strata(["down", "--url", "app.db", "--quiet"], { cwd: dir });
  assert.equal(q.stderr, "");
});

test("unlock without --yes on a non-TTY refuses; with --yes clears a held lock", async (t) => {
  const dir = project(t);
  const file = path.join(dir, "app.db");
  await strata(["up", "--url", file], { cwd: dir });
  const db = openDb(t, file);
  await db.execute("INSERT INTO strata_migrations_lock (id, holder, host, pid, strata_version, command, started_at, expires_at) VALUES (1, 'h:1:x', 'elsewhere', 1, '0', 'up', '2024-01-01T00:00:00Z', '2999-01-01T00:00:00Z')");
  const s = json(await strata(["status", "--json", "--url", file], { cwd: dir }));
  assert.equal(s.lock.host, "elsewhere");
  const no = await strata(["unlock", "--url", file], { cwd: dir });
  assert.equal(no.code, 2);
  assert.match(no.stderr, /--yes/);
  const lockTimeout = await strata(["down", "--url", file, "--lock-timeout", "1"], { cwd: dir });
  assert.equal(lockTimeout.code, 5, "lock timeout has its own exit code");
  assert.match(lockTimeout.stderr, /held by elsewhere pid 1/);
  const yes = json(await strata(["unlock", "--yes", "--json", "--url", file], { cwd: dir }));
  assert.equal(yes.cleared.host, "elsewhere");
  assert.equal((await strata(["down", "--url", file], { cwd: dir })).code, 0);
});

test("a path given by flag, env or strata.toml that does not exist is exit 2; check says what it compared", async (t) => {
  const dir = project(t);
  const file = path.join(dir, "app.db");
  assert.equal((await strata(["up", "--url", file, "--quiet"], { cwd: dir })).code, 0);
  const home = tempDir(t); // like cron: cwd is $HOME, no schema.sql there
  const dirFlag = ["--dir", path.join(dir, "migrations")];
  writeFiles(home, { "bad.toml": `schema = "nowhere.sql"\n` });
  const [flagSchema, envSchema, tomlSchema, flagDir, envDir, noSchema, withSchema] = await Promise.all([
    strata(["check", "--url", file, ...dirFlag, "--schema", "/nonexistent.sql"], { cwd: home }),
    strata(["check", "--url", file, ...dirFlag, "--json"], { cwd: home, env: { STRATA_SCHEMA: "/nonexistent.sql" } }),
    strata(["check", "--url", file, ...dirFlag, "--config", "bad.toml"], { cwd: home }),
    strata(["status", "--url", file, "--dir", "/nonexistent-migrations"], { cwd: home }),
    strata(["up", "--url", file], { cwd: home, env: { STRATA_DIR: "/nonexistent-migrations" } }),
    strata(["check", "--url", file, ...dirFlag], { cwd: home }),
    (writeFiles(dir, { "schema.sql": "CREATE TABLE one (id INTEGER PRIMARY KEY);\nCREATE TABLE two (id INTEGER PRIMARY KEY);\n" }),
    strata(["check", "--url", file, "--json"], { cwd: dir })),
  ]);
  for (const [r, pattern] of [
    [flagSchema, /schema file \/nonexistent\.sql does not exist \(given by --schema\)/],
    [envSchema, /schema file \/nonexistent\.sql does not exist \(given by \$STRATA_SCHEMA\)/],
    [tomlSchema, /schema file .*nowhere\.sql does not exist \(given by schema = in .*bad\.toml\)/],
    [flagDir, /migrations folder \/nonexistent-migrations does not exist \(given by --dir\)/],
    [envDir, /migrations folder \/nonexistent-migrations does not exist \(given by \$STRATA_DIR\)/],
  ] as const) {
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stdout, /matches/);
  }
  assert.equal(json(envSchema).error.kind, "config");
  assert.equal(noSchema.code, 0, noSchema.stderr);
  assert.doesNotMatch(noSchema.stdout, /matches/);
  assert.match(noSchema.stdout, /no schema file .* none was compared/);
  const compared = json(withSchema);
  assert.equal(compared.ok, true);
  assert.equal(compared.schema, path.join(dir, "schema.sql"));
  assert.equal(compared.liveCompared, true);
});

test("--quiet prints nothing on success; a failing gate's report goes to stderr; status ends with a newline", async (t) => {
  const dir = project(t);
  const file = path.join(dir, "app.db");
  const up = await strata(["up", "--url", file, "--quiet"], { cwd: dir });
  assert.deepEqual([up.code, up.stdout, up.stderr], [0, "", ""]);
  const [check, status, text] = await Promise.all([
    strata(["check", "--url", file, "--quiet"], { cwd: dir }),
    strata(["status", "--url", file, "--quiet", "--exit-code"], { cwd: dir }),
    strata(["status", "--url", file], { cwd: dir }),
  ]);
  assert.deepEqual([check.code, check.stdout, check.stderr], [0, "", ""]);
  assert.deepEqual([status.code, status.stdout, status.stderr], [0, "", ""]);
  assert.ok(text.stdout.endsWith("applied, 0 pending\n"), JSON.stringify(text.stdout.slice(-40)));
  writeFiles(path.join(dir, "migrations"), { "003_three.up.sql": "CREATE TABLE three (id INTEGER);\n" });
  const failing = await strata(["check", "--url", file, "--quiet"], { cwd: dir });
  assert.equal(failing.code, 1);
  assert.equal(failing.stdout, "");
  assert.match(failing.stderr, /database is not up to date: 1 pending \(003\)/);
});

test("--json covers argument errors: unknown flag, bad value, unknown verb, missing argument", async () => {
  const cases: Array<[string[], RegExp, string]> = [
    [["up", "--no-such-flag", "--json"], /unknown arguments: --no-such-flag/, "up"],
    [["up", "--step", "abc", "--json"], /not a number: --step abc/, "up"],
    [["frobnicate", "--json"], /not a valid subcommand name: frobnicate/, "frobnicate"],
    [["fleet", "up", "--bogus", "--json"], /unknown arguments: --bogus/, "fleet up"],
    [["schema", "dump", "--bogus", "--json"], /unknown arguments: --bogus/, "schema dump"],
    [["resolve", "--json"], /No value provided for VERSION/, "resolve"],
  ];
  const results = await Promise.all(cases.map(([args]) => strata(args)));
  results.forEach((r, i) => {
    const [args, pattern, command] = cases[i]!;
    assert.equal(r.code, 2, args.join(" "));
    const e = json(r);
    assert.equal(e.ok, false);
    assert.equal(e.command, command);
    assert.equal(e.error.kind, "usage");
    assert.equal(e.error.exitCode, 2);
    assert.match(e.error.message, pattern);
    assert.match(r.stderr, pattern, "the one-line error is on stderr too");
  });
  const text = await strata(["up", "--no-such-flag"]);
  assert.equal(text.code, 2);
  assert.equal(text.stdout, "", "without --json, stdout stays empty");
});

test("relative revisions in the space form: up --to +1, down --to -2, down --step 1", async (t) => {
  const dir = project(t);
  writeFiles(path.join(dir, "migrations"), { "003_three.up.sql": "CREATE TABLE three (id INTEGER);\n", "003_three.down.sql": "DROP TABLE three;\n" });
  const env = { DATABASE_URL: "app.db" };
  const current = async () => json(await strata(["current", "--json"], { cwd: dir, env })).current;
  const up1 = await strata(["up", "--to", "+1", "--quiet"], { cwd: dir, env });
  assert.equal(up1.code, 0, up1.stderr);
  assert.equal(await current(), "001");
  assert.equal((await strata(["up", "--quiet"], { cwd: dir, env })).code, 0);
  const down2 = await strata(["down", "--to", "-2", "--quiet"], { cwd: dir, env });
  assert.equal(down2.code, 0, down2.stderr);
  assert.equal(await current(), "001");
});

test("help: strata help, help VERB, version, -V; own options before shared ones; no unused options", async () => {
  const [help, bare, helpUp, upHelp, version, dashV, resolveHelp, newHelp] = await Promise.all([
    strata(["help"]),
    strata([]),
    strata(["help", "up"]),
    strata(["up", "--help"]),
    strata(["version"]),
    strata(["-V"]),
    strata(["resolve", "--help"]),
    strata(["new", "--help"]),
  ]);
  assert.equal(help.code, 0);
  for (const section of [/^Commands:$/m, /^Global options/m, /^Environment:$/m, /^Exit codes:$/m, /^Examples:$/m]) assert.match(help.stdout, section);
  assert.match(help.stdout, /^\s+DATABASE_URL\s/m);
  assert.match(help.stdout, /^\s+130\s+interrupted/m);
  assert.match(help.stdout, /^\s+--lock-timeout VALUE\s/m);
  assert.equal(bare.code, 2, "no verb is a usage error");
  assert.match(bare.stderr, /^Commands:$/m);
  assert.equal(helpUp.code, 0);
  assert.equal(helpUp.stdout, upHelp.stdout, "help up = up --help");
  const own = helpUp.stdout.indexOf("--dry-run");
  const shared = helpUp.stdout.indexOf("--url");
  assert.ok(own > 0 && shared > own, "up's own options come before the shared ones");
  assert.match(helpUp.stdout, /^Examples:$/m);
  assert.match(helpUp.stdout, /^Environment: .*DATABASE_URL/m);
  for (const v of [version, dashV]) {
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^strata \d+\.\d+\.\d+ \(/);
  }
  assert.match(resolveHelp.stdout, /VERSION\s+the migration's version/);
  assert.doesNotMatch(resolveHelp.stdout, /a string/);
  assert.equal(newHelp.code, 0);
  assert.doesNotMatch(newHelp.stdout, /--url|--auth-token|--lock-timeout/, "new writes files: no database options");
  assert.match(newHelp.stdout, /--autogenerate/);
});

test("progress: every migration of a grouped SQL run is reported as it commits, with its time; a TTY gets a live line", async (t) => {
  const dir = tempDir(t);
  const files: Record<string, string> = {};
  for (let i = 1; i <= 6; i++) files[`00${i}_m${i}.up.sql`] = `CREATE TABLE m${i} (id INTEGER);\n`;
  writeFiles(path.join(dir, "migrations"), files);
  const r = await strata(["up", "--url", "app.db"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  for (let i = 1; i <= 6; i++) assert.match(r.stderr, new RegExp(`\\[${i}/6\\] applied 00${i}_m${i} in \\d+ ms, \\d+\\.\\d s elapsed`));
  assert.match(r.stderr, /\[1\/6\] applying 001_m1 and 5 more in one request/);

  const { Logger } = await import("../src/output/logger.ts");
  let out = "";
  const tty = new Logger({ tty: true, color: false, write: (s) => void (out += s) });
  tty.stepStarted(1, 2, "applying 001_a");
  tty.info("a message while the line is live");
  tty.stepDone(1, 2, "applied 001_a", 12);
  assert.match(out, /^\r\x1b\[K\[1\/2\] applying 001_a … 0\.\d s\r\x1b\[Ka message while the line is live\n\r\x1b\[K\[1\/2\] applying 001_a … /);
  assert.ok(out.endsWith("\r\x1b[K[1/2] applied 001_a in 12 ms, 0.0 s elapsed\n"), JSON.stringify(out));
});

/** A verb's --help, rendered in-process by the same parser and formatter the binary uses (fast for 25 verbs). */
async function helpOf(words: string[]): Promise<string> {
  const { runSafely, setDefaultHelpFormatter } = await import("cmd-ts");
  const { buildCli } = await import("../src/cli/commands.ts");
  const { helpFormatter } = await import("../src/cli/help.ts");
  setDefaultHelpFormatter(helpFormatter);
  const r = await runSafely(buildCli(), [...words, "--help"]);
  assert.equal(r._tag, "error", words.join(" "));
  if (r._tag !== "error") throw new Error("unreachable");
  assert.equal(r.error.config.exitCode, 0);
  return r.error.config.message;
}

const RUNS = ["--migration-timeout", "--no-timeout"];
const WAITS = ["--wait", "--wait-timeout"];
/** Per verb: options it must not offer (they would do nothing). Every verb is listed. */
const NOT_OFFERED: Record<string, string[]> = {
  up: [], down: [], redo: [], check: [], lint: [], rehearse: [], deploy: [],
  status: RUNS, current: RUNS, history: RUNS, stamp: RUNS, resolve: RUNS, init: RUNS,
  unlock: [...RUNS, "--dir"],
  "schema dump": [...RUNS, "--dir"],
  backup: [...RUNS, "--dir"],
  restore: [...RUNS, "--dir"],
  wait: [...RUNS, ...WAITS, "--dir", "--table", "--lock-timeout"],
  new: ["--url", "--auth-token", "--table", "--lock-timeout", ...RUNS, ...WAITS],
  "fleet up": ["--url", ...WAITS], "fleet down": ["--url", ...WAITS],
  "fleet status": ["--url", ...WAITS, ...RUNS], "fleet check": ["--url", ...WAITS, ...RUNS],
};

test("every verb's help: its own options first, an example, the env vars it reads; no option it does not use", async () => {
  const top = await helpOf([]);
  const listed = [...top.matchAll(/^  ([a-z]+)  /gm)].map((m) => m[1]!).filter((v) => !["help", "version", "completions"].includes(v));
  const verbs = Object.keys(NOT_OFFERED);
  // Every verb on the overview is in the table (a new verb gets an entry), nested ones by their group.
  for (const v of listed) assert.ok(verbs.some((k) => k === v || k.startsWith(v + " ")), `${v} has a NOT_OFFERED entry`);
  for (const verb of verbs) {
    const help = await helpOf(verb.split(" "));
    assert.match(help, /^Examples:\n  # .+\n  strata /m, `${verb}: an example`);
    assert.match(help, /^Environment: .*NO_COLOR/m, `${verb}: env vars`);
    assert.match(help, /^Usage: strata /m);
    const own = help.indexOf("\nOptions:\n");
    const shared = help.indexOf("\nShared options:\n");
    assert.ok(shared > 0, `${verb}: shared options`);
    if (own >= 0) assert.ok(own < shared, `${verb}: own options first`);
    for (const name of NOT_OFFERED[verb]!) assert.doesNotMatch(help, new RegExp(`^\\s+${name}[ ,\\n]`, "m"), `${verb} does not offer ${name}`);
    assert.doesNotMatch(help, /- a string|<str>|\[optional\]/, `${verb}: no parser placeholders`);
  }
  // The ones that do take them still list them, with their variables.
  const up = await helpOf(["up"]);
  for (const name of [...RUNS, ...WAITS, "--dir", "--table"]) assert.match(up, new RegExp(`^\\s+${name}[ ,\\n]`, "m"));
  assert.match(up, /^Environment: .*STRATA_MIGRATION_TIMEOUT/m);
  assert.doesNotMatch(await helpOf(["status"]), /STRATA_MIGRATION_TIMEOUT/, "env vars of options not offered are not listed");
});

test("--migration-timeout is honoured wherever it is offered: fleet up, lint", async (t) => {
  const dir = project(t);
  writeFiles(path.join(dir, "migrations"), { "003_hang.ts": "export async function up() { await new Promise((r) => setTimeout(r, 60_000)); }\n" });
  writeFiles(dir, { "targets.txt": "app.db\n" });
  const [fleetUp, lint] = await Promise.all([
    strata(["fleet", "up", "--targets", "targets.txt", "--migration-timeout", "1s", "--json"], { cwd: dir }),
    strata(["lint", "--all", "--migration-timeout", "1s", "--json"], { cwd: dir }),
  ]);
  assert.equal(fleetUp.code, 6, fleetUp.stderr);
  assert.match(json(fleetUp).targets[0].error.message, /up\(\) of 003_hang\.ts did not finish within 1s/);
  assert.equal(lint.code, 1, lint.stderr);
  assert.ok(json(lint).findings.some((f: { message: string }) => /up\(\) of 003_hang\.ts did not finish within 1s/.test(f.message)), lint.stdout);
});

test("every other path option that names something missing is exit 2 before anything runs", async (t) => {
  const dir = project(t);
  const file = path.join(dir, "app.db");
  writeFiles(dir, { "targets.txt": `${file}\n` });
  const missing = path.join(dir, "nonexistent");
  const cases: Array<[string[], RegExp]> = [
    [["lint", "--all", "--dir", missing], /migrations folder .*nonexistent does not exist \(given by --dir\)/],
    [["rehearse", "--url", file, "--dir", missing], /migrations folder .*nonexistent does not exist \(given by --dir\)/],
    [["fleet", "up", "--targets", "targets.txt", "--dir", missing], /migrations folder .*nonexistent does not exist \(given by --dir\)/],
    [["new", "x", "--dir", missing], /migrations folder .*nonexistent does not exist \(given by --dir\)/],
    [["new", "x", "--autogenerate", "--dir", missing], /migrations folder .*nonexistent does not exist \(given by --dir\)/],
    [["up", "--url", file, "--dump-schema", `${missing}/schema.sql`], /folder .*nonexistent for --dump-schema .* does not exist/],
    [["schema", "dump", "--url", file, "--out", `${missing}/schema.sql`], /folder .*nonexistent for --out .* does not exist/],
    [["status", "--url", file, "--config", `${missing}/strata.toml`], /cannot read config file/],
    [["status", "--url", file, "--auth-token-file", `${missing}/token`], /cannot read auth token file/],
    [["fleet", "status", "--targets", `${missing}/targets.txt`], /cannot read targets file/],
    [["restore", `${missing}/x.db`, "--url", file, "--yes"], /backup file .* does not exist/],
  ];
  const results = await Promise.all(cases.map(([args]) => strata(args, { cwd: dir })));
  results.forEach((r, i) => {
    assert.equal(r.code, 2, `${cases[i]![0].join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
  });
  assert.equal(fs.existsSync(missing), false, "no folder was created");
  assert.equal(fs.existsSync(file), false, "no database was created or migrated");
  assert.deepEqual(fs.readdirSync(path.join(dir, "migrations")).sort(), Object.keys(FILES).sort(), "no migration was written");
});
