/**
 * The production routine on the command line: backup, restore and deploy. Thin wrappers over
 * src/commands/{backup,restore,deploy}.ts, wired into buildCli() by src/cli/commands.ts.
 */
import path from "node:path";
import process from "node:process";
import { command, flag, number, option, optional, positional, restPositionals, string } from "cmd-ts";
import { StrataError } from "../errors.ts";
import { commonArgs, configArgs, connectionArgs, outputArgs, tableArgs } from "./common.ts";
import { commandOptions, runVerb } from "./verb.ts";

/** backup and restore copy the database as it is: no migrations folder, no migration run. */
const copyArgs = { ...connectionArgs, ...tableArgs, ...configArgs, ...outputArgs };
import type { BackupResult } from "../commands/backup.ts";
import type { RestorePlan, RestoreResult } from "../commands/restore.ts";
import type { DeployResult } from "../commands/deploy.ts";

const backupArgs = {
  out: option({ type: optional(string), long: "out", description: "backup folder (default ./backups) [env STRATA_BACKUP_DIR]" }),
  keep: option({ type: optional(number), long: "keep", description: "keep only the newest N backups of this database (others are never touched)" }),
};

export const backup = command({
  name: "backup",
  description: "Back up the database while the app runs: a consistent snapshot (local file) or an SQL dump (remote), with a manifest",
  examples: [
    { description: "nightly, keeping two weeks", command: "strata backup --url calendar_app.db --out /var/backups/calendar --keep 14 --quiet" },
  ],
  args: { ...copyArgs, ...backupArgs },
  handler: (a) =>
    runVerb("backup", a, async (logger) => {
      const { backup } = await import("../commands/backup.ts");
      return backup({ ...commandOptions(a, logger), out: a.out, keep: a.keep });
    }, renderBackup),
});

export const restore = command({
  name: "restore",
  description: "Replace the database with a backup, after verifying it and taking a safety backup of the current state",
  examples: [
    { description: "put a backup back (the app stopped)", command: "strata restore backups/calendar_app-20240301T020000Z-20240301090000.db --url calendar_app.db --yes" },
  ],
  args: {
    ...copyArgs,
    file: positional({ type: string, displayName: "FILE", description: "backup file (.db or .sql) written by `strata backup`, with its .json manifest beside it" }),
    yes: flag({ long: "yes", short: "y", description: "do not ask for confirmation" }),
    force: flag({ long: "force", description: "remote database: replace its contents even when it is not empty" }),
    out: option({ type: optional(string), long: "out", description: "folder for the safety backup (default ./backups) [env STRATA_BACKUP_DIR]" }),
    closeTimeout: option({ type: optional(string), long: "close-timeout", description: "local database: wait this long for other processes to close it: 30, 30s, 2m (default 0: refuse at once)" }),
  },
  handler: (a) =>
    runVerb("restore", a, async (logger) => {
      if (!a.yes && !process.stdin.isTTY) {
        throw new StrataError("usage", "restore replaces the database and needs confirmation, but stdin is not a terminal", { hint: "pass --yes" });
      }
      const { restore } = await import("../commands/restore.ts");
      return restore({ ...commandOptions(a, logger), file: a.file, yes: a.yes, force: a.force, out: a.out, closeTimeout: a.closeTimeout, confirm: a.yes ? undefined : confirmRestore });
    }, renderRestore),
});

async function confirmRestore(plan: RestorePlan): Promise<boolean> {
  // Loaded on demand: a few milliseconds of start-up that only confirmations need.
  const readline = await import("node:readline/promises");
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const now = plan.targetExists ? `now at version ${plan.targetVersion ?? "base"}, ${plan.targetObjects} objects` : "does not exist yet";
    const answer = await rl.question(
      `Replace ${plan.target} (${now}) with ${path.basename(plan.backup)} (version ${plan.backupVersion ?? "base"}, taken ${plan.backupCreatedAt} from ${plan.backupSource})?` +
        `${plan.targetExists ? " A safety backup is taken first." : ""} [y/N] `,
    );
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export const deploy = command({
  name: "deploy",
  description: "Back up, migrate, start the app and wait until it is healthy; on failure stop it and put the database back",
  examples: [
    { description: "rehearse, back up, migrate, start, health check", command: "strata deploy --rehearse --health-url http://127.0.0.1:8000/health -- ./start.sh" },
  ],
  args: {
    ...commonArgs,
    ...backupArgs,
    healthUrl: option({ type: optional(string), long: "health-url", description: "healthy when GET URL answers 2xx" }),
    healthCmd: option({ type: optional(string), long: "health-cmd", description: "healthy when this shell command exits 0" }),
    healthTimeout: option({ type: optional(string), long: "health-timeout", description: "how long the app has to become healthy: 30, 30s, 2m (default 30s)" }),
    stopCmd: option({ type: optional(string), long: "stop-cmd", description: "shell command that stops the app on failure (besides the process strata started)" }),
    stopTimeout: option({ type: optional(string), long: "stop-timeout", description: "grace between SIGTERM and SIGKILL for the app strata started (default 10s)" }),
    rollbackCmd: option({ type: optional(string), long: "rollback-cmd", description: "shell command run after the database was put back (e.g. start the previous release)" }),
    rehearse: flag({ long: "rehearse", description: "first run `strata rehearse` on a copy; stop before any change if it fails" }),
    command: restPositionals({ type: string, displayName: "COMMAND", description: "after --: the command that starts the app (one argument is shell text)" }),
  },
  handler: (a) =>
    runVerb("deploy", a, async (logger) => {
      const { deploy } = await import("../commands/deploy.ts");
      return deploy({
        ...commandOptions(a, logger),
        command: a.command,
        out: a.out,
        keep: a.keep,
        healthUrl: a.healthUrl,
        healthCmd: a.healthCmd,
        healthTimeout: a.healthTimeout,
        stopCmd: a.stopCmd,
        stopTimeout: a.stopTimeout,
        rollbackCmd: a.rollbackCmd,
        rehearse: a.rehearse,
        handleSignals: true,
      });
    }, renderDeploy, (r) => r.exitCode),
});

// ------------------------------------------------------------------------------------ output

function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
}

function bytes(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function ms(n: number): string {
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`;
}

export function renderBackup(r: BackupResult): string {
  const out = [`${r.path}`, `  ${r.kind}, ${bytes(r.size)}, ${r.rows} rows, version ${r.version ?? "base"}, sha256 ${r.sha256}, ${ms(r.durationMs)}`];
  for (const p of r.pruned) out.push(`pruned ${p}`);
  return out.join("\n");
}

export function renderRestore(r: RestoreResult): string {
  return [
    `restored ${r.restored} (${r.kind}, taken ${r.backupCreatedAt}) into ${r.database}: ${r.rows} rows`,
    `safety backup of the previous state: ${r.safetyBackup ?? "none (the database did not exist or was empty)"}`,
    `database is at ${r.version ?? "base"}`,
  ].join("\n");
}

export function renderDeploy(r: DeployResult): string {
  const rows = [["STEP", "OUTCOME", "DURATION", "DETAIL"], ...r.steps.map((s) => [s.step, s.outcome, ms(s.durationMs), s.detail])];
  let last: string;
  if (r.ok) last = `deployed: database at ${r.to ?? "base"}${r.appExitCode !== null ? `; the app exited with ${r.appExitCode}` : ""}`;
  else if (r.state === "pre-deploy") last = `deploy ${r.interrupted ? `interrupted (${r.interrupted})` : "failed"}: the database is in its pre-deploy state (${r.to ?? "base"})${r.revertedBy ? `, reverted by ${r.revertedBy}` : ""}`;
  else last = `deploy ${r.interrupted ? "interrupted" : "failed"} and the database could NOT be put back: it is at ${r.to ?? "base"}, was at ${r.from ?? "base"}; backup: ${r.backup ?? "none"}`;
  return `${table(rows)}\n${last}`;
}

