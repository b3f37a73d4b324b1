/**
 * deploy: backup -> up -> start the app -> wait until healthy. On failure at any step: stop the
 * app, put the database back in its pre-deploy state (`down` when every migration this deploy
 * applied is reversible, else restore the backup), run --rollback-cmd, and report every step.
 *
 * The start command may return (a launcher: `systemctl restart calendar`) or keep running (the
 * app in the foreground: `./start.sh`). A launcher that exits 0 leaves health polling to decide;
 * a foreground app stays strata's child: once it is healthy strata forwards SIGINT/SIGTERM to it,
 * waits for it, and exits with its code.
 *
 * Interrupted (SIGINT/SIGTERM) before the app is healthy: migrations run one at a time, so the
 * one in flight commits or rolls back as a whole; then the database is reverted to its
 * pre-deploy state, and the result says so. It never stops between two states.
 */
import { StrataError, ExitCode, messageOf } from "../errors.ts";
import fs from "node:fs";
import { localPathOf } from "../db/connection.ts";
import { removeDbFiles as removeDatabaseFiles } from "../backup/files.ts";
import { requireUrl, resolveSettings } from "../config/settings.ts";
import { parseDuration } from "../config/duration.ts";
import { silentLogger } from "../output/logger.ts";
import { redactUrl } from "../output/redact.ts";
import { discoverMigrations } from "../script/discover.ts";
import { backup } from "./backup.ts";
import { down, up } from "./migrate.ts";
import { restore } from "./restore.ts";
import { rehearse } from "./rehearse.ts";
import type { CommandOptions } from "./context.ts";
import { AppProcess, commandText, describeExit, exitStatus, runShell, waitHealthy } from "../deploy/app-process.ts";
import { Interrupts } from "../deploy/interrupts.ts";

export interface DeployOptions extends CommandOptions {
  /** The start command: one element is shell text, several an argv. */
  command: string[];
  healthUrl?: string | undefined;
  healthCmd?: string | undefined;
  /** How long the app has to become healthy: 30, 30s, 2m (default 30s). */
  healthTimeout?: string | undefined;
  stopCmd?: string | undefined;
  rollbackCmd?: string | undefined;
  /** Grace between SIGTERM and SIGKILL when stopping the app strata started (default 10s). */
  stopTimeout?: string | undefined;
  /** Backup folder and pruning, as for `strata backup`. */
  out?: string | undefined;
  keep?: number | undefined;
  /** Handle SIGINT/SIGTERM (the CLI does). Library callers can pass `signal` instead. */
  handleSignals?: boolean;
  signal?: AbortSignal;
  /** First rehearse the pending migrations on a copy; a failed rehearsal stops the deploy before anything changes. */
  rehearse?: boolean | undefined;
}

export type StepName = "rehearse" | "backup" | "up" | "start" | "health" | "run" | "stop" | "stop-cmd" | "revert" | "rollback-cmd";
export type StepOutcome = "ok" | "failed" | "skipped" | "interrupted";

export interface DeployStep {
  step: StepName;
  outcome: StepOutcome;
  durationMs: number;
  detail: string;
}

/**
 * deployed: migrated and the app is healthy; pre-deploy: the database was put back as it was;
 * unknown: putting it back failed (see the steps).
 */
export type DeployState = "deployed" | "pre-deploy" | "unknown";

export interface DeployResult {
  ok: boolean;
  database: string;
  /** The start command as run. */
  startCommand: string;
  backup: string | null;
  /** Version before the deploy. */
  from: string | null;
  /** Version at the end. */
  to: string | null;
  applied: string[];
  state: DeployState;
  /** How the database was put back: down, restore of the backup, or removal of a database this deploy created. */
  revertedBy: "down" | "restore" | "remove" | null;
  interrupted: NodeJS.Signals | null;
  failedStep: StepName | null;
  appPid: number | null;
  appExitCode: number | null;
  /** The exit code strata ends with. */
  exitCode: number;
  steps: DeployStep[];
  durationMs: number;
}

export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const logger = options.logger ?? silentLogger;
  if (options.command.length === 0 || options.command.every((c) => c.trim() === "")) {
    throw new StrataError("usage", "deploy needs the command that starts the app", { hint: "strata deploy [options] -- ./start.sh" });
  }
  const healthTimeoutMs = parseDuration(options.healthTimeout ?? "30s", "--health-timeout");
  const stopTimeoutMs = parseDuration(options.stopTimeout ?? "10s", "--stop-timeout");
  if (options.healthUrl !== undefined && !/^https?:\/\/\S+$/i.test(options.healthUrl)) {
    throw new StrataError("usage", `--health-url must be an http:// or https:// URL, got "${options.healthUrl}"`);
  }
  if (options.healthUrl !== undefined && options.healthCmd !== undefined) {
    throw new StrataError("usage", "--health-url and --health-cmd cannot be combined", { hint: "give one of them" });
  }
  if (options.keep !== undefined && (!Number.isInteger(options.keep) || options.keep < 1)) {
    throw new StrataError("usage", `--keep must be a positive whole number, got ${options.keep}`);
  }
  const settings = resolveSettings(options);
  const url = requireUrl(settings);
  // A malformed migrations folder fails here, before anything is touched.
  const files = discoverMigrations(settings.dir);
  const base: CommandOptions = {
    url: options.url,
    authToken: options.authToken,
    authTokenFile: options.authTokenFile,
    dir: options.dir,
    table: options.table,
    config: options.config,
    lockTimeout: options.lockTimeout,
    migrationTimeout: options.migrationTimeout,
    noTimeout: options.noTimeout,
    waitMs: options.waitMs,
    logger,
  };

  // First deploy on a fresh machine: nothing to back up, and "pre-deploy" means no file.
  const localFile = localPathOf(url);
  const newDatabase = localFile !== undefined && !fs.existsSync(localFile);

  const started = Date.now();
  const command = commandText(options.command);
  const steps: DeployStep[] = [];
  const irq = new Interrupts(logger, options.handleSignals ?? false, options.signal);
  const result: DeployResult = {
    ok: false,
    database: redactUrl(url),
    startCommand: command,
    backup: null,
    from: null,
    to: null,
    applied: [],
    state: "pre-deploy",
    revertedBy: null,
    interrupted: null,
    failedStep: null,
    appPid: null,
    appExitCode: null,
    exitCode: ExitCode.failure,
    steps,
    durationMs: 0,
  };
  const step = (name: StepName, outcome: StepOutcome, since: number, detail: string) => {
    steps.push({ step: name, outcome, durationMs: Date.now() - since, detail });
    const line = `${name}: ${outcome}${detail ? ` — ${detail}` : ""}`;
    if (outcome === "failed") logger.error(line);
    else if (outcome === "interrupted") logger.warn(line);
    else logger.info(line);
  };
  let app: AppProcess | undefined;

  try {
    // 0. Rehearsal on a copy: the database is only read.
    if (options.rehearse && !newDatabase) {
      const t = Date.now();
      irq.phase = "rehearsing on a copy; the database is not changed";
      try {
        const r = await rehearse(base);
        const f = r.failure;
        if (f) {
          step("rehearse", "failed", t, `${f.phase} of ${f.version ?? "the copy"} failed${f.file ? ` (${f.file}${f.line ? `:${f.line}` : ""})` : ""}: ${f.message}`);
          result.failedStep = "rehearse";
          return finish();
        }
        step("rehearse", "ok", t, r.migrations.length === 0 ? "nothing pending" : `${r.migrations.length} migration(s) applied, reverted and applied again on a copy`);
      } catch (e) {
        step("rehearse", "failed", t, messageOf(e));
        result.failedStep = "rehearse";
        return finish();
      }
    }

    // 1. Backup.
    irq.phase = "the backup is running; the database is not changed";
    let t = Date.now();
    try {
      if (newDatabase) {
        step("backup", "skipped", t, `${localFile} does not exist yet: the pre-deploy state is no database`);
      } else {
        const b = await backup({ ...base, out: options.out, keep: options.keep, reason: "pre-deploy" });
        result.backup = b.path;
        result.from = result.to = b.version;
        step("backup", "ok", t, b.path);
      }
    } catch (e) {
      step("backup", "failed", t, messageOf(e));
      result.failedStep = "backup";
      return finish();
    }
    if (irq.received) {
      step("up", "interrupted", Date.now(), "not started");
      return finish();
    }

    // 2. Up, one migration at a time, so an interrupt stops between two of them.
    irq.phase = "the migration in flight will commit or roll back, then the database is reverted to its pre-deploy state";
    t = Date.now();
    try {
      for (;;) {
        const r = await up({ ...base, step: 1 });
        if (result.applied.length === 0) result.from = r.from;
        result.to = r.to;
        for (const s of r.steps) if (s.outcome === "applied") result.applied.push(s.version);
        if (r.steps.length === 0 || irq.received || r.to === files.at(-1)?.version) break;
      }
    } catch (e) {
      step("up", "failed", t, messageOf(e));
      result.failedStep = "up";
      return await rollBack();
    }
    const upDetail = result.applied.length === 0 ? `nothing to apply; at ${result.to ?? "base"}` : `${result.from ?? "base"} -> ${result.to ?? "base"} (${result.applied.length} applied)`;
    if (irq.received) {
      step("up", "interrupted", t, upDetail);
      return await rollBack();
    }
    step("up", "ok", t, upDetail);

    // 3. Start.
    irq.phase = "stopping the app, then reverting the database to its pre-deploy state";
    t = Date.now();
    app = new AppProcess(command);
    result.appPid = app.pid ?? null;
    if (app.pid === undefined) {
      const exit = await app.exited;
      step("start", "failed", t, `could not start \`${command}\`: ${describeExit(exit)}`);
      result.failedStep = "start";
      return await rollBack();
    }
    step("start", "ok", t, `\`${command}\` pid ${app.pid}`);

    // 4. Health.
    t = Date.now();
    const health = await waitHealthy({
      url: options.healthUrl,
      cmd: options.healthCmd,
      timeoutMs: healthTimeoutMs,
      app,
      signal: irq.signal,
      onLauncher: () => logger.info("the start command exited 0: treating it as a launcher and polling health"),
    });
    if (!health.healthy) {
      step("health", irq.received ? "interrupted" : "failed", t, health.detail);
      if (!irq.received) result.failedStep = "health";
      return await rollBack();
    }
    step("health", "ok", t, health.detail);
    result.state = "deployed";
    result.ok = true;
    result.exitCode = ExitCode.ok;

    // 5. A foreground app: strata stays its parent until it exits.
    if (app.running) {
      irq.forwardTo = app;
      irq.phase = "the app is running";
      logger.info(`deployed; the app runs as pid ${app.pid} (strata forwards SIGINT/SIGTERM to it and exits with its code)`);
      t = Date.now();
      const exit = await app.exited;
      result.appExitCode = exitStatus(exit);
      result.exitCode = result.appExitCode;
      step("run", "ok", t, `the app ended with ${describeExit(exit)}`);
    } else {
      logger.info(`deployed; database at ${result.to ?? "base"}`);
    }
    return finish();
  } finally {
    irq.dispose();
  }

  /** Stop the app, put the database back, run --rollback-cmd. */
  async function rollBack(): Promise<DeployResult> {
    irq.phase = "rolling back; strata exits once the database is in its pre-deploy state";
    let t = Date.now();
    if (app?.running) {
      const exit = await app.stop(stopTimeoutMs);
      step("stop", "ok", t, `pid ${app.pid} ended with ${describeExit(exit)}${exit.killed ? ` (killed after ${stopTimeoutMs / 1000} s)` : ""}`);
    } else if (app) {
      result.appExitCode = app.exit ? exitStatus(app.exit) : null;
    }
    if (options.stopCmd !== undefined && app) {
      t = Date.now();
      const r = await runShell(options.stopCmd, { timeoutMs: Math.max(stopTimeoutMs, 30_000) });
      step("stop-cmd", r.ok ? "ok" : "failed", t, `\`${options.stopCmd}\` -> ${describeExit(r)}`);
    }

    t = Date.now();
    const previous = result.from;
    if (result.applied.length === 0) {
      step("revert", "skipped", t, `nothing was applied; database at ${result.to ?? "base"}`);
      result.state = "pre-deploy";
    } else {
      const irreversible = result.applied.filter((v) => files.find((f) => f.version === v)?.downPath === undefined);
      let reverted = false;
      if (irreversible.length === 0) {
        try {
          const r = await down({ ...base, to: previous ?? "base" });
          result.to = r.to;
          result.revertedBy = "down";
          reverted = true;
          step("revert", "ok", t, `down to ${previous ?? "base"} (${r.steps.length} reverted)`);
        } catch (e) {
          step("revert", "failed", t, `down to ${previous ?? "base"} failed: ${messageOf(e)}; restoring the backup instead`);
          t = Date.now();
        }
      }
      if (!reverted) {
        const why = irreversible.length > 0 ? `${irreversible.join(", ")} ${irreversible.length === 1 ? "is" : "are"} irreversible; ` : "";
        if (newDatabase) {
          // The database did not exist before this deploy: its pre-deploy state is no file.
          removeDatabaseFiles(localFile!);
          result.to = null;
          result.revertedBy = "remove";
          reverted = !fs.existsSync(localFile!);
          step("revert", reverted ? "ok" : "failed", t, `${why}removed ${localFile}, which this deploy created`);
        } else if (result.backup === null) {
          step("revert", "failed", t, `${why}no backup to restore`);
        } else {
          try {
            const r = await restore({ ...base, file: result.backup, yes: true, force: true, out: options.out, closeTimeout: "10s" });
            result.to = r.version;
            result.revertedBy = "restore";
            reverted = true;
            step("revert", "ok", t, `${why}restored ${r.restored} (version ${r.version ?? "base"})`);
          } catch (e) {
            step("revert", "failed", t, `${why}restore of ${result.backup} failed: ${messageOf(e)}`);
          }
        }
      }
      result.state = reverted && result.to === previous ? "pre-deploy" : "unknown";
    }

    if (options.rollbackCmd !== undefined) {
      t = Date.now();
      const r = await runShell(options.rollbackCmd, { timeoutMs: 10 * 60_000 });
      step("rollback-cmd", r.ok ? "ok" : "failed", t, `\`${options.rollbackCmd}\` -> ${describeExit(r)}`);
    }
    return finish();
  }

  function finish(): DeployResult {
    result.interrupted = irq.received;
    result.durationMs = Date.now() - started;
    if (!result.ok) {
      result.exitCode = irq.received ? ExitCode.interrupted : ExitCode.failure;
      const where = result.state === "pre-deploy"
        ? `the database is in its pre-deploy state (${result.to ?? "base"})`
        : `the database could NOT be put back: it is at ${result.to ?? "base"}, it was at ${result.from ?? "base"} before the deploy; the backup is ${result.backup ?? "missing"}`;
      const cause = irq.received ? `interrupted by ${irq.received}` : `failed at ${result.failedStep ?? "?"}`;
      if (result.state === "pre-deploy") logger.warn(`deploy ${cause}; ${where}`);
      else logger.error(`deploy ${cause}; ${where}`);
    }
    return result;
  }
}
