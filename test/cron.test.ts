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

function cronLine(pattern: RegExp): string {
  const line = blocks("cron").flatMap((b) => b.split("\n")).find((l) => pattern.test(l));
  assert.ok(line, `README has a cron line matching ${pattern}`);
  return line.trim().split(/\s+/).slice(5).join(" "); // drop the five schedule fields
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
  const place = (text: string) =>
    text
      .replaceAll("/usr/local/bin/strata", binary)
      .replace(/(?<![\w.])\/(opt|var)\//g, `${root}/$1/`);
  return { root, home, db: path.join(root, "var/lib/calendar/calendar_app.db"), place, env: { PATH: "/usr/bin:/bin", SHELL: "/bin/sh", HOME: home } };
}

/** The README's systemd unit: Environment=, WorkingDirectory=, ExecStartPre=. */
function systemdUnit(h: Host) {
  const unit = blocks("ini").find((b) => b.includes("ExecStartPre="));
  assert.ok(unit, "README has the systemd unit");
  const value = (key: string) => unit.split("\n").filter((l) => l.startsWith(key + "=")).map((l) => h.place(l.slice(key.length + 1)));
  const env = Object.fromEntries(value("Environment").map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
  return { env, cwd: value("WorkingDirectory")[0]!, execStartPre: value("ExecStartPre")[0]!.split(/\s+/) };
}

test("README systemd ExecStartPre and cron lines work in cron's environment, and --quiet lines are silent when all is well", async (t) => {
  const h = host(t);
  const unit = systemdUnit(h);
  const [cmd, ...args] = unit.execStartPre;
  const pre = await runCommand(cmd!, args, { cwd: unit.cwd, cleanEnv: true, env: { PATH: "/usr/bin:/bin", ...unit.env } });
  assert.equal(pre.code, 0, pre.stderr);
  const db = openDb(t, h.db);
  const migrations = fs.readdirSync(CALENDAR_MIGRATIONS).filter((f) => /^\d+_.*\.(up\.sql|ts)$/.test(f)).length;
  assert.equal((await db.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n, migrations, "every migration is applied");

  const cron = (line: string) => runCommand("/bin/sh", ["-c", h.place(line)], { cwd: h.home, cleanEnv: true, env: h.env });
  const checkLine = cronLine(/strata check /);
  const backupLine = cronLine(/strata backup /);
  const [check, backup] = await Promise.all([cron(checkLine), cron(backupLine)]);
  assert.deepEqual([check.code, check.stdout, check.stderr], [0, "", ""], "the gate mails nothing when all is well");
  assert.deepEqual([backup.code, backup.stdout, backup.stderr], [0, "", ""], "the nightly backup mails nothing when all is well");
  assert.equal(fs.readdirSync(path.join(h.root, "var/backups/calendar")).filter((f) => f.endsWith(".db")).length, 1);

  // Something to mail: a pending migration (exit 1, the reason on stderr) ...
  writeFiles(path.join(h.root, "opt/calendar/migrations"), { "20990101000000_later.up.sql": "CREATE TABLE later (id INTEGER);\n" });
  const pending = await cron(checkLine);
  assert.equal(pending.code, 1);
  assert.equal(pending.stdout, "");
  assert.match(pending.stderr, /database is not up to date: 1 pending \(20990101000000\)/);
  // ... and a schema file that is gone: the gate cannot pass by comparing nothing (exit 2).
  fs.rmSync(path.join(h.root, "opt/calendar/schema.sql"));
  const gone = await cron(checkLine);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /schema file .*schema\.sql does not exist \(given by --schema\)/);
});
