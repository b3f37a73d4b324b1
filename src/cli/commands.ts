/**
 * The command line: one cmd-ts command per verb, each a thin wrapper over a library function
 * in src/commands. Alembic's verb names are accepted as aliases.
 */
import process from "node:process";
import { command, flag, number, option, optional, positional, string, subcommands } from "cmd-ts";
import { ExitCode, StrataError } from "../errors.ts";
import { commonArgs, configArgs, connectionArgs, inspectArgs, outputArgs, projectArgs, tableArgs } from "./common.ts";
import { commandOptions, runVerb } from "./verb.ts";
import { runDown, runRedo, runUp } from "./migrate-verbs.ts";
import * as render from "./render.ts";
import { versionLine } from "../build-info.ts";
import { backup, deploy, restore } from "./ops-commands.ts";
import { lint, rehearse } from "./safety-commands.ts";
import { fleet } from "./fleet-commands.ts";
import { completionsCommand, group, type CliNode } from "./completions.ts";
import { statusExitCode } from "../commands/status-view.ts";

const schemaOption = option({ type: optional(string), long: "schema", description: "declarative schema file (default ./schema.sql) [env STRATA_SCHEMA]" });
const strictColumnOrderFlag = flag({ long: "strict-column-order", description: "compare column order too: a column declared mid-table rebuilds it (strict_column_order in strata.toml) [env STRATA_STRICT_COLUMN_ORDER]" });

const revisionArgs = {
  to: option({ type: optional(string), long: "to", description: "target revision: a version, a unique prefix, head, base, +N or -N" }),
  step: option({ type: optional(number), long: "step", description: "number of migrations" }),
  dryRun: flag({ long: "dry-run", description: "print the plan and the SQL it would run; change nothing" }),
  singleTransaction: flag({ long: "single-transaction", description: "run all migrations of this run in one transaction: all or nothing" }),
  dumpSchema: option({ type: optional(string), long: "dump-schema", description: "after the run, write the live schema (as `strata schema dump`) to this file" }),
};

/** Alembic style `strata upgrade head` / `strata downgrade -1`: a positional REV means --to. */
const revPositional = positional({ type: optional(string), displayName: "REV", description: "target revision (same as --to)" });

const up = command({
  name: "up",
  aliases: ["upgrade"],
  description: "Apply pending migrations in order (all of them, or up to --to / --step)",
  examples: [
    { description: "apply everything pending", command: "strata up --url calendar_app.db" },
    { description: "apply the next one only", command: "strata up +1" },
    { description: "show the plan and SQL, change nothing", command: "strata up --dry-run" },
  ],
  args: {
    ...commonArgs,
    ...revisionArgs,
    rev: revPositional,
    allowOutOfOrder: flag({ long: "allow-out-of-order", description: "apply pending migrations older than the newest applied one" }),
  },
  handler: runUp,
});

const down = command({
  name: "down",
  aliases: ["downgrade"],
  description: "Revert applied migrations, newest first (one by default; --to base reverts all)",
  examples: [
    { description: "revert the newest migration", command: "strata down" },
    { description: "revert the two newest", command: "strata down --to -2" },
    { description: "revert to a version", command: "strata down --to 20240301090000" },
  ],
  args: { ...commonArgs, ...revisionArgs, rev: revPositional },
  handler: runDown,
});

const redo = command({
  name: "redo",
  description: "Revert the newest applied migration and apply it again",
  examples: [
    { description: "while writing a migration: run its down and up again", command: "strata redo --url dev.db" },
  ],
  args: { ...commonArgs, dryRun: revisionArgs.dryRun },
  handler: runRedo,
});

const status = command({
  name: "status",
  description: "Show applied and pending migrations, changed or missing files, and the run lock",
  examples: [
    { description: "in a script: 3 when pending, 1 on problems", command: "strata status --exit-code --quiet" },
  ],
  args: {
    ...inspectArgs,
    exitCode: flag({ long: "exit-code", description: "exit 3 when migrations are pending, 1 when up would refuse to run" }),
  },
  handler: (a) =>
    runVerb("status", a, async (logger) => {
      const { status } = await import("../commands/inspect.ts");
      return status(commandOptions(a, logger));
    }, render.renderStatus, (r) => statusExitCode(r, a.exitCode)),
});

const current = command({
  name: "current",
  description: "Print the version the database is at",
  examples: [
    { description: "the version and name; `--json` for scripts", command: "strata current --url calendar_app.db" },
  ],
  args: { ...inspectArgs },
  handler: (a) =>
    runVerb("current", a, async (logger) => {
      const { current } = await import("../commands/inspect.ts");
      return current(commandOptions(a, logger));
    }, render.renderCurrent),
});

const history = command({
  name: "history",
  description: "List all migrations in order (with their state when a database is configured)",
  examples: [
    { description: "the files only, no database", command: "strata history" },
    { description: "who ran what, when", command: "strata history --log --url calendar_app.db" },
  ],
  args: {
    ...inspectArgs,
    log: flag({ long: "log", description: "show the audit log of up/down/stamp/resolve/unlock runs instead" }),
    limit: option({ type: optional(number), long: "limit", description: "with --log: how many entries (default 50)" }),
  },
  handler: (a) =>
    runVerb("history", a, async (logger) => {
      const { history } = await import("../commands/inspect.ts");
      return history({ ...commandOptions(a, logger), log: a.log, limit: a.limit });
    }, (r) => render.renderHistory(r, a.verbose)),
});

const stamp = command({
  name: "stamp",
  description: "Record the database as being at REV without running any migration",
  examples: [
    { description: "a database whose schema is already at head", command: "strata stamp head --url calendar_app.db" },
    { description: "see what would be recorded", command: "strata stamp 20240301090000 --dry-run" },
  ],
  args: { ...inspectArgs, revision: positional({ type: string, displayName: "REV", description: "head, base, a version or prefix, +N/-N" }), dryRun: revisionArgs.dryRun },
  handler: (a) =>
    runVerb("stamp", a, async (logger) => {
      const { stamp } = await import("../commands/record.ts");
      return stamp({ ...commandOptions(a, logger), revision: a.revision, dryRun: a.dryRun });
    }, render.renderStamp),
});

const resolve = command({
  name: "resolve",
  description: "Settle a migration that failed midway or whose file changed: record it as applied or as reverted",
  examples: [
    { description: "a no-transaction migration died midway; its effects are in place", command: "strata resolve 20240410080000 --applied" },
  ],
  args: {
    ...inspectArgs,
    version: positional({ type: string, displayName: "VERSION", description: "the migration's version (or a unique prefix), as `strata status` lists it" }),
    applied: flag({ long: "applied", description: "record it as applied (with its file's current checksum)" }),
    reverted: flag({ long: "reverted", description: "remove its record" }),
  },
  handler: (a) =>
    runVerb("resolve", a, async (logger) => {
      if (a.applied === a.reverted) throw new StrataError("usage", "give exactly one of --applied or --reverted");
      const { resolve } = await import("../commands/record.ts");
      return resolve({ ...commandOptions(a, logger), version: a.version, as: a.applied ? "applied" : "reverted" });
    }, render.renderResolve),
});

const unlock = command({
  name: "unlock",
  description: "Clear a stale migration lock left by a runner that died",
  examples: [
    { description: "after `strata status` shows a lock of a dead runner", command: "strata unlock --yes --url calendar_app.db" },
  ],
  // Clears a row: no migrations folder involved.
  args: { ...connectionArgs, ...tableArgs, ...configArgs, ...outputArgs, yes: flag({ long: "yes", short: "y", description: "do not ask for confirmation" }) },
  handler: (a) =>
    runVerb("unlock", a, async (logger) => {
      const { unlock } = await import("../commands/record.ts");
      return unlock({ ...commandOptions(a, logger), confirm: a.yes ? undefined : confirmUnlock });
    }, render.renderUnlock),
});

async function confirmUnlock(lock: { host: string; pid: number; startedAt: string; command: string }): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new StrataError("usage", "unlock needs confirmation and stdin is not a terminal", { hint: "pass --yes" });
  }
  // Loaded on demand: a few milliseconds of start-up that only confirmations need.
  const readline = await import("node:readline/promises");
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Clear the lock held by ${lock.host} pid ${lock.pid} (${lock.command}) since ${lock.startedAt}? Only do this if that run is dead. [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

const newCmd = command({
  name: "new",
  aliases: ["revision", "create"],
  description: "Write a new migration (SQL pair, or --ts for a TypeScript module) and print its paths",
  // Writes files only: no database options.
  examples: [
    { description: "an empty SQL pair to edit", command: 'strata new "add booking room"' },
    { description: "the SQL that takes the migrations to schema.sql", command: 'strata new "add booking room" --autogenerate' },
  ],
  args: {
    ...projectArgs,
    ...outputArgs,
    message: positional({ type: optional(string), displayName: "MESSAGE", description: "what the migration does; becomes the file name" }),
    m: option({ type: optional(string), long: "message", short: "m", description: "same as MESSAGE (Alembic's -m)" }),
    ts: flag({ long: "ts", description: "write a TypeScript migration (for data migrations)" }),
    autogenerate: flag({ long: "autogenerate", description: "write the SQL that takes the migrations' head to schema.sql" }),
    schema: schemaOption,
    strictColumnOrder: strictColumnOrderFlag,
  },
  handler: (a) =>
    runVerb("new", a, async (logger) => {
      const message = a.m ?? a.message;
      if (message === undefined) throw new StrataError("usage", "a message is required", { hint: 'strata new "add specialist bio"' });
      // A migrations folder that was named but is missing is a typo or the wrong cwd: only the
      // default ./migrations is created (init --from-db, which starts a project, creates its --dir).
      const { assertGivenPathExists, resolveSettings } = await import("../config/settings.ts");
      assertGivenPathExists(resolveSettings(commandOptions(a, logger)), "dir");
      if (a.autogenerate) {
        if (a.ts) throw new StrataError("usage", "--autogenerate writes SQL; it cannot be combined with --ts");
        const { autogenerate } = await import("../commands/schema.ts");
        return autogenerate({ ...commandOptions(a, logger), message, schema: a.schema, strictColumnOrder: a.strictColumnOrder });
      }
      const { newMigration } = await import("../commands/new.ts");
      return newMigration({ ...commandOptions(a, logger), message, ts: a.ts });
    }, (r) => ("empty" in r ? render.renderAutogenerate(r) : render.renderNew(r))),
});

const check = command({
  name: "check",
  description: "CI gate: exit 0 only when the database is at head, no applied file changed and schema.sql matches head",
  examples: [
    { description: "cron/CI gate: silent and exit 0 when all is well", command: "strata check --schema schema.sql --quiet" },
  ],
  args: { ...commonArgs, schema: schemaOption, strictColumnOrder: strictColumnOrderFlag },
  handler: (a) =>
    runVerb("check", a, async (logger) => {
      const { check } = await import("../commands/schema.ts");
      return check({ ...commandOptions(a, logger), schema: a.schema, strictColumnOrder: a.strictColumnOrder });
    }, render.renderCheck, (r) => (r.ok ? ExitCode.ok : ExitCode.failure)),
});

const schemaDump = command({
  name: "dump",
  description: "Print the live schema as SQL in a stable, normalized order",
  examples: [
    { description: "review what production has", command: "strata schema dump --url calendar_app.db -o live.sql" },
  ],
  args: { ...connectionArgs, ...tableArgs, ...configArgs, ...outputArgs, out: option({ type: optional(string), long: "out", short: "o", description: "write to this file instead of stdout" }) },
  handler: (a) =>
    runVerb("schema dump", a, async (logger) => {
      const { schemaDump } = await import("../commands/schema.ts");
      return schemaDump({ ...commandOptions(a, logger), out: a.out });
    }, (r) => (r.out ? `wrote ${r.out}` : r.sql)),
});

const init = command({
  name: "init",
  description: "Adopt an existing database: write an initial migration capturing its schema and stamp the database at it",
  examples: [
    { description: "start using strata on a database that already has tables", command: "strata init --from-db --url calendar_app.db" },
  ],
  args: {
    ...inspectArgs,
    fromDb: flag({ long: "from-db", description: "capture the schema of the database given by --url (required)" }),
    message: option({ type: optional(string), long: "message", short: "m", description: "name of the initial migration (default: initial schema)" }),
  },
  handler: (a) =>
    runVerb("init", a, async (logger) => {
      if (!a.fromDb) throw new StrataError("usage", "init needs --from-db", { hint: "strata init --from-db --url calendar_app.db" });
      const { initFromDb } = await import("../commands/schema.ts");
      return initFromDb({ ...commandOptions(a, logger), message: a.message });
    }, (r) => `captured ${r.objects} object(s) of ${r.database} into:\n${r.files.join("\n")}\nand stamped the database at ${r.version}`),
});

const wait = command({
  name: "wait",
  description: "Wait until the database answers (for pre-start hooks that run before the network is up)",
  examples: [
    { description: "before migrating a remote database at boot", command: "strata wait --timeout 2m && strata up" },
  ],
  // Its own --timeout replaces --wait/--wait-timeout; it reads no table and no migrations.
  args: { ...connectionArgs, ...configArgs, ...outputArgs, timeout: option({ type: optional(string), long: "timeout", description: "give up after: 30, 30s, 2m (default 60s)" }) },
  handler: (a) =>
    runVerb("wait", a, async (logger) => {
      const { waitForDatabase } = await import("../commands/wait.ts");
      return waitForDatabase({ ...commandOptions(a, logger), timeout: a.timeout });
    }, (r) => `${r.database} answered after ${r.attempts} attempt(s) in ${r.waitedMs} ms`),
});

/** The verbs as the parser gets them; `strata completions` walks the same record. */
export const VERBS = {
  up,
  down,
  redo,
  status,
  current,
  history,
  stamp,
  resolve,
  unlock,
  new: newCmd,
  check,
  schema: group({ name: "schema", description: "Schema tools", cmds: { dump: schemaDump } }),
  init,
  wait,
  backup,
  restore,
  deploy,
  lint,
  rehearse,
  fleet,
  completions: completionsCommand((): Record<string, CliNode> => VERBS),
};

export function buildCli() {
  return subcommands({
    name: "strata",
    version: versionLine(),
    description: "Database migrations for SQLite and libSQL/Turso",
    cmds: VERBS,
  });
}

