/**
 * `strata fleet up|down|status|check`: thin wrappers over src/commands/fleet.ts, wired into
 * buildCli() by src/cli/commands.ts. Progress goes to stderr, the summary (or --json) to stdout.
 */
import process from "node:process";
import { command, flag, number, option, optional, positional, string } from "cmd-ts";
import { group } from "./completions.ts";
import { ExitCode, StrataError } from "../errors.ts";
import { commonArgs } from "./common.ts";
import { runVerb, type CommonValues } from "./verb.ts";
import { table } from "./render.ts";
import type { Logger } from "../output/logger.ts";
import { FleetProgress } from "../fleet/progress.ts";
import { parseDuration } from "../config/duration.ts";
import type { FleetOptions, FleetRunResult, FleetStatusResult, TargetRecord, TargetStatusRecord } from "../commands/fleet.ts";

// Everything of commonArgs but the single-database ones: targets replace --url. status and
// check run no migration, so only up/down take the migration timeouts.
const { url: _url, wait: _wait, waitTimeout: _waitTimeout, migrationTimeout: _mt, noTimeout: _nt, ...sharedArgs } = commonArgs;

const fleetArgs = {
  ...sharedArgs,
  targets: option({ type: optional(string), long: "targets", description: "file with one database URL per line (`#` comments; `URL token_file=PATH`); - reads stdin [default: targets/[[fleet]] in strata.toml]" }),
  concurrency: option({ type: optional(number), long: "concurrency", short: "j", description: "databases at once (default 8)" }),
  requestTimeout: option({ type: optional(string), long: "request-timeout", description: "a remote request taking longer counts as lost (the database as unreachable after retries): 10s, 1m (default 30s)" }),
};

const runArgs = {
  ...fleetArgs,
  migrationTimeout: commonArgs.migrationTimeout,
  noTimeout: commonArgs.noTimeout,
  to: option({ type: optional(string), long: "to", description: "target revision on every database (default: head for up, one step for down)" }),
  step: option({ type: optional(number), long: "step", description: "number of migrations per database" }),
  canary: option({ type: optional(number), long: "canary", description: "migrate the first N targets first; stop if any of them fails" }),
  maxFailures: option({ type: optional(number), long: "max-failures", description: "stop starting new targets after N failures (default 1); running ones finish" }),
};

type FleetArgValues = Omit<CommonValues, "url" | "wait" | "waitTimeout"> & { targets: string | undefined; concurrency: number | undefined; requestTimeout: string | undefined };

/** Options for the library, with progress on stderr and Ctrl-C/SIGTERM stopping new starts. */
function fleetOptions(a: FleetArgValues, logger: Logger, holder: { progress?: FleetProgress }, signal: AbortSignal): FleetOptions {
  return {
    authToken: a.authToken,
    authTokenFile: a.authTokenFile,
    dir: a.dir,
    table: a.table,
    config: a.config,
    lockTimeout: a.lockTimeout,
    migrationTimeout: a.migrationTimeout,
    noTimeout: a.noTimeout,
    targets: a.targets,
    concurrency: a.concurrency,
    requestTimeoutMs: a.requestTimeout === undefined ? undefined : parseDuration(a.requestTimeout, "--request-timeout"),
    logger,
    signal,
    onStart: () => holder.progress?.started(),
    onDone: (r) => holder.progress?.finished(finishedLine(r)),
  };
}

/** Runs `fn` with an AbortSignal that the first SIGINT/SIGTERM fires. */
async function interruptible<T>(logger: Logger, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (sig: NodeJS.Signals) => {
    logger.warn(`${sig}: no new database starts; the running ones finish their run`);
    controller.abort();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    return await fn(controller.signal);
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

function finishedLine(r: TargetRecord | TargetStatusRecord): { target: string; ok: boolean; summary: string } {
  if ("outcome" in r) {
    const ok = r.outcome !== "failed";
    const summary = ok ? `${r.outcome === "at-goal" ? "already at" : `${r.from ?? "base"} →`} ${r.to ?? "base"}${r.versions.length ? ` (${r.versions.length} migration(s), ${r.durationMs} ms)` : ""}` : errorText(r.error!);
    return { target: r.target, ok, summary };
  }
  return { target: r.target, ok: r.state !== "unreachable", summary: stateText(r) };
}

function errorText(e: NonNullable<TargetRecord["error"]>): string {
  const where = e.file ? `${e.file}${e.line ? `:${e.line}` : ""}: ` : "";
  return `${where}${e.message}`;
}

const migrateVerb = (direction: "up" | "down") =>
  command({
    name: direction,
    description:
      direction === "up"
        ? "Apply pending migrations to every target database (databases at head are skipped)"
        : "Revert migrations on every target database (one step by default, or --to REV)",
    examples:
      direction === "up"
        ? [
            { description: "every tenant, 8 at a time", command: "strata fleet up --targets tenants.txt" },
            { description: "3 tenants first; stop if one fails", command: "strata fleet up --targets tenants.txt --canary 3" },
          ]
        : [{ description: "every tenant back to a version", command: "strata fleet down --targets tenants.txt --to 20240320150000" }],
    args: {
      ...runArgs,
      rev: positional({ type: optional(string), displayName: "REV", description: "target revision (same as --to)" }),
      ...(direction === "up" ? { allowOutOfOrder: flag({ long: "allow-out-of-order", description: "apply pending migrations older than the newest applied one" }) } : {}),
    },
    handler: (a) =>
      runVerb(`fleet ${direction}`, { ...a, url: undefined, wait: false, waitTimeout: undefined }, (logger) =>
        interruptible(logger, async (signal) => {
          if (a.rev !== undefined && a.to !== undefined && a.rev !== a.to) throw new StrataError("usage", `two targets given: ${a.rev} and --to ${a.to}`);
          const lib = await import("../commands/fleet.ts");
          const holder: { progress?: FleetProgress } = {};
          const options = {
            ...fleetOptions(a, logger, holder, signal),
            to: a.to ?? a.rev,
            step: a.step,
            canary: a.canary,
            maxFailures: a.maxFailures,
            allowOutOfOrder: "allowOutOfOrder" in a ? Boolean(a.allowOutOfOrder) : undefined,
          };
          const run = direction === "up" ? lib.fleetUp : lib.fleetDown;
          return withProgress(logger, holder, (onTargets) => run({ ...options, onTargets }));
        }),
      renderRun,
      (r) => (r.ok ? ExitCode.ok : r.stoppedBy === "interrupted" ? ExitCode.interrupted : ExitCode.fleetIncomplete)),
  });

/** Progress on stderr while `fn` runs, created once the library knows how many targets there are. */
async function withProgress<T>(logger: Logger, holder: { progress?: FleetProgress }, fn: (onTargets: (n: number) => void) => Promise<T>): Promise<T> {
  try {
    return await fn((n) => (holder.progress = new FleetProgress(n, logger)));
  } finally {
    holder.progress?.end();
  }
}

const statusVerb = (name: "status" | "check") =>
  command({
    name,
    description:
      name === "status"
        ? "How many databases sit at each version, and which ones drift (changed files, failed midway, locked) or cannot be reached"
        : "CI/cron gate: exit 0 only when every target database is at head with nothing drifting",
    examples:
      name === "status"
        ? [{ description: "databases per version, and what drifts", command: "strata fleet status --targets tenants.txt" }]
        : [{ description: "cron gate: silent and exit 0 when every tenant is at head", command: "strata fleet check --targets tenants.txt --quiet" }],
    args: fleetArgs,
    handler: (a) =>
      runVerb(`fleet ${name}`, { ...a, url: undefined, wait: false, waitTimeout: undefined }, (logger) =>
        interruptible(logger, async (signal) => {
          const lib = await import("../commands/fleet.ts");
          const holder: { progress?: FleetProgress } = {};
          const run = name === "status" ? lib.fleetStatus : lib.fleetCheck;
          return withProgress(logger, holder, (onTargets) => run({ ...fleetOptions(a, logger, holder, signal), onTargets }));
        }),
      renderStatus,
      (r) => (name === "status" || r.ok ? ExitCode.ok : ExitCode.fleetIncomplete)),
  });

export const fleet = group({
  name: "fleet",
  description: "The same migrations over many databases (one per tenant) in one run",
  cmds: { up: migrateVerb("up"), down: migrateVerb("down"), status: statusVerb("status"), check: statusVerb("check") },
});

// ---------------------------------------------------------------- rendering

const STOPPED: Record<string, string> = {
  canary: "stopped: a canary failed",
  "max-failures": "stopped: --max-failures reached",
  interrupted: "stopped: interrupted",
};

export function renderRun(r: FleetRunResult): string {
  const rows = r.targets.map((t) => [
    t.outcome === "migrated" && r.command === "fleet down" ? "reverted" : t.outcome,
    t.target,
    t.outcome === "not-started" ? "" : `${t.from ?? "base"} → ${t.to ?? "base"}`,
    t.outcome === "not-started" ? "" : String(t.versions.length),
    t.outcome === "not-started" ? "" : `${t.durationMs} ms`,
    t.error ? errorText(t.error) : "",
  ]);
  const c = r.counts;
  const totals = `${r.total} target(s), goal ${r.goal}: ${c.migrated} migrated, ${c["at-goal"]} already there, ${c.failed} failed, ${c["not-started"]} not started${r.stoppedBy ? ` (${STOPPED[r.stoppedBy]})` : ""}; ${r.durationMs < 1000 ? `${r.durationMs} ms` : `${(r.durationMs / 1000).toFixed(1)} s`}`;
  return `${table([["OUTCOME", "TARGET", "FROM → TO", r.command === "fleet down" ? "REVERTED" : "APPLIED", "TIME", "ERROR"], ...rows])}\n${totals}`;
}

function stateText(t: TargetStatusRecord): string {
  if (t.error) return `unreachable: ${errorText(t.error)}`;
  const parts = [`at ${t.current ?? "base"}`];
  if (t.pending > 0) parts.push(`${t.pending} pending`);
  if (t.changed.length) parts.push(`CHANGED ${t.changed.join(", ")}`);
  if (t.missing.length) parts.push(`MISSING FILE ${t.missing.join(", ")}`);
  if (t.failed.length) parts.push(`FAILED MIDWAY ${t.failed.join(", ")}`);
  if (t.outOfOrder.length) parts.push(`out of order ${t.outOfOrder.join(", ")}`);
  if (t.lock) parts.push(`locked by ${t.lock.host} pid ${t.lock.pid} (${t.lock.command}) since ${t.lock.startedAt}`);
  return parts.join(", ");
}

export function renderStatus(r: FleetStatusResult): string {
  const out = [r.command === "fleet check" ? (r.ok ? `ok: all ${r.total} database(s) at head ${r.head ?? "(no migrations)"}, nothing drifts` : `check failed: ${r.problems.length} of ${r.total} database(s) not at head or drifting`) : `head: ${r.head ?? "(no migrations)"}`];
  out.push("", table([["VERSION", "DATABASES"], ...r.versions.map((v) => [`${v.version ?? "base"}${v.version === r.head ? " (head)" : ""}`, String(v.count)])]));
  if (r.problems.length > 0) out.push("", table([["STATE", "TARGET", "DETAIL"], ...r.problems.map((t) => [t.state, t.target, stateText(t)])]));
  const c = r.counts;
  out.push("", `${r.total} target(s): ${c["at-head"]} at head, ${c.behind} behind, ${c.drift} drifting, ${c.unreachable} unreachable`);
  return out.join("\n");
}
