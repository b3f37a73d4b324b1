/**
 * The README's cron and systemd examples, run exactly as written (paths moved under a temp
 * root) by the compiled binary in cron's environment: `env -i PATH=/usr/bin:/bin SHELL=/bin/sh
 * HOME=…`, working directory $HOME. Quiet means quiet: a cron line that mails on every run is a bug.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary } from "./support/build.ts";
import { CALENDAR_MIGRATIONS, ROOT, openDb, runCommand, tempDir, writeFiles } from "./support/cli.ts";

const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

/** Fenced blocks of one language in the README. */
function blocks(lang: string): string[] {
  return [...README.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** Every cron line of the README, without its five schedule fields. */
function cronLines(): string[] {
  return blocks("cron")
    .flatMap((b) => b.split("\n"))
    .filter((l) => /^\S+ \S+ \S+ \S+ \S+ /.test(l) && !l.startsWith("#"))
    .map((l) => l.trim().split(/\s+/).slice(5).join(" "));
}

function cronLine(pattern: RegExp): string {
  const line = cronLines().find((l) => pattern.test(l));
  assert.ok(line, `README has a cron line matching ${pattern}`);
  return line;
}

interface Host {
  root: string;
  home: string;
  db: string;
  /** README text with the example's absolute paths moved under `root`, the binary for /usr/local/bin/strata. */
  place(text: string): string;
  /** cron's environment. */
  env: Record<string, string>;
}

function host(t: Parameters<typeof tempDir>[0]): Host {
  const binary = ensureBinary();
  const root = tempDir(t, "strata-cron-");
  const home = path.join(root, "home", "calendar");
  fs.mkdirSync(home, { recursive: true });
  fs.cpSync(CALENDAR_MIGRATIONS, path.join(root, "opt/calendar/migrations"), { recursive: true });
  fs.copyFileSync(path.join(ROOT, "schema.sql"), path.join(root, "opt/calendar/schema.sql"));
  fs.mkdirSync(path.join(root, "var/lib/calendar"), { recursive: true });
  const db = path.join(root, "var/lib/calendar/calendar_app.db");
  // The fleet examples' tenants: the one database (local, so the token file goes unused).
  writeFiles(path.join(root, "etc/calendar"), { "tenants.txt": `${db}\n`, "turso-token": "unused-for-local-files\n" });
  const place = (text: string) =>
    text
      .replaceAll("/usr/local/bin/strata", binary)
      .replace(/(?<![\w.])\/(opt|var|etc)\//g, `${root}/$1/`);
  return { root, home, db, place, env: { PATH: "/usr/bin:/bin", SHELL: "/bin/sh", HOME: home } };
}

interface Unit {
  name: string;
  env: Record<string, string>;
  cwd: string;
  /** ExecStartPre= and ExecStart= lines that run strata, in order, split into words. */
  commands: string[][];
}

/**
 * The README's systemd units that run strata: Environment=, WorkingDirectory=, ExecStartPre=,
 * ExecStart=. LoadCredential=NAME:PATH is played as systemd does: PATH copied into
 * $CREDENTIALS_DIRECTORY/NAME, and ${CREDENTIALS_DIRECTORY} expanded in the command line.
 */
function systemdUnits(h: Host): Unit[] {
  return blocks("ini")
    .filter((b) => /^ExecStart(Pre)?=\/usr\/local\/bin\/strata /m.test(b))
    .map((unit, i) => {
      const value = (key: string) => unit.split("\n").filter((l) => l.startsWith(key + "=")).map((l) => h.place(l.slice(key.length + 1)));
      const credentials = path.join(h.root, `run/credentials/unit${i}`);
      fs.mkdirSync(credentials, { recursive: true });
      for (const c of value("LoadCredential")) {
        const [name, from] = c.split(/:(.*)/s) as [string, string];
        fs.copyFileSync(from, path.join(credentials, name));
      }
      const env = Object.fromEntries(value("Environment").map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
      const commands = [...value("ExecStartPre"), ...value("ExecStart")]
        .filter((c) => c.startsWith(ensureBinary()))
        .map((c) => c.replaceAll("${CREDENTIALS_DIRECTORY}", credentials).split(/\s+/));
      return { name: /^# (\S+)/m.exec(unit)?.[1] ?? `unit ${i}`, env: { ...env, CREDENTIALS_DIRECTORY: credentials }, cwd: value("WorkingDirectory")[0] ?? "/", commands };
    });
}

test("README systemd units and every cron line work in cron's environment, and --quiet lines are silent when all is well", async (t) => {
  const h = host(t);
  const units = systemdUnits(h);
  assert.ok(units.some((u) => u.name.endsWith("calendar.service")), "README has the app's unit");
  assert.ok(units.some((u) => u.name.endsWith("calendar-migrate.service")), "README has the fleet's unit");
  for (const unit of units) {
    for (const [cmd, ...args] of unit.commands) {
      const r = await runCommand(cmd!, args, { cwd: unit.cwd, cleanEnv: true, env: { PATH: "/usr/bin:/bin", ...unit.env } });
      assert.equal(r.code, 0, `${unit.name}: ${args.join(" ")}\n${r.stderr}`);
    }
  }
  const db = openDb(t, h.db);
  const migrations = fs.readdirSync(CALENDAR_MIGRATIONS).filter((f) => /^\d+_.*\.(up\.sql|ts)$/.test(f)).length;
  assert.equal((await db.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, migrations, "every migration is applied");

  const cron = (line: string) => runCommand("/bin/sh", ["-c", h.place(line)], { cwd: h.home, cleanEnv: true, env: h.env });
  const lines = cronLines();
  assert.ok(lines.length >= 3, "the check, backup and fleet check lines");
  for (const line of lines) assert.match(line, /--quiet/, `a cron line mails whatever it prints: ${line}`);
  const results = await Promise.all(lines.map(cron));
  results.forEach((r, i) => assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""], `mails nothing when all is well: ${lines[i]}`));
  assert.equal(fs.readdirSync(path.join(h.root, "var/backups/calendar")).filter((f) => f.endsWith(".db")).length, 1);

  // Something to mail: a pending migration (exit 1 / 6, the reason on stderr) ...
  writeFiles(path.join(h.root, "opt/calendar/migrations"), { "20990101000000_later.up.sql": "CREATE TABLE later (id INTEGER);\n" });
  const checkLine = cronLine(/strata check /);
  const [pending, fleetPending] = await Promise.all([cron(checkLine), cron(cronLine(/strata fleet check /))]);
  assert.equal(pending.code, 1);
  assert.equal(pending.stdout, "");
  assert.match(pending.stderr, /database is not up to date: 1 pending \(20990101000000\)/);
  assert.equal(fleetPending.code, 6);
  assert.equal(fleetPending.stdout, "");
  assert.match(fleetPending.stderr, /behind .*calendar_app\.db .*1 pending/);
  // ... and a schema file that is gone: the gate cannot pass by comparing nothing (exit 2).
  fs.rmSync(path.join(h.root, "opt/calendar/schema.sql"));
  const gone = await cron(checkLine);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /schema file .*schema\.sql does not exist \(given by --schema\)/);
});
