/**
 * strata fleet: the same migrations over many databases (database-per-tenant) in one process.
 * Each target is migrated by the ordinary library commands (up, down, status) over one
 * connection that is reused for the target's whole turn, so every database keeps its own lock,
 * version table and audit log: two fleet runs at once, or a rerun after a crash, apply each
 * migration once per database.
 */
import { StrataError } from "../errors.ts";
import { assertGivenPathExists, resolveSettings, type Settings } from "../config/settings.ts";
import { openDatabase, type Database } from "../db/connection.ts";
import { describeDbError } from "../db/errors.ts";
import { discoverMigrations, type MigrationFile } from "../script/discover.ts";
import { loadStep, type Direction } from "../script/load.ts";
import { silentLogger } from "../output/logger.ts";
import { loadTargets, readTargetToken, type Target } from "../fleet/targets.ts";
import { runPool, type StopReason } from "../fleet/pool.ts";
import { down, up, checkRevisionNamesAFile, type MigrateOptions, type MigrateResult } from "./migrate.ts";
import { status, type StatusResult } from "./inspect.ts";
import type { CommandOptions, OpenedDatabase } from "./context.ts";
import { setMigrationTimeout } from "../script/ts-runner.ts";

export const DEFAULT_CONCURRENCY = 8;

export interface FleetOptions extends CommandOptions {
  /** Targets file, `-` for stdin; otherwise strata.toml's targets. */
  targets?: string | undefined;
  readStdin?: () => string;
  concurrency?: number | undefined;
  /** How long one request to a remote database may take before it counts as lost (default 30 s). */
  requestTimeoutMs?: number | undefined;
  /** Progress: called once with the number of targets, then when each target starts and ends. */
  onTargets?: (count: number) => void;
  onStart?: (target: Target, index: number) => void;
  onDone?: (record: TargetRecord | TargetStatusRecord, index: number) => void;
  /** Aborting stops starting new targets; running ones finish. */
  signal?: AbortSignal | undefined;
}

export interface FleetRunOptions extends FleetOptions, Pick<MigrateOptions, "to" | "step" | "allowOutOfOrder"> {
  /** Migrate the first N targets first; stop if any of them fails. */
  canary?: number | undefined;
  /** Stop starting new targets after this many failures (default 1). */
  maxFailures?: number | undefined;
}

export interface TargetError {
  kind: string;
  message: string;
  file: string | null;
  line: number | null;
  hint: string | null;
}

export type TargetOutcome = "migrated" | "at-goal" | "failed" | "not-started";

export interface TargetRecord {
  target: string;
  origin: string;
  outcome: TargetOutcome;
  from: string | null;
  to: string | null;
  /** Versions this run applied (up) or reverted (down) on this database. */
  versions: string[];
  durationMs: number;
  error: TargetError | null;
}

export interface FleetRunResult {
  command: "fleet up" | "fleet down";
  /** Every target reached the goal. */
  ok: boolean;
  goal: string;
  total: number;
  counts: Record<TargetOutcome, number>;
  stoppedBy: StopReason | null;
  durationMs: number;
  targets: TargetRecord[];
}

/** What every target shares: settings without a URL, the migration files read once. */
interface Shared {
  settings: Settings;
  requestTimeoutMs: number | undefined;
  files: MigrationFile[];
  targets: Target[];
}

function prepare(options: FleetOptions): Shared {
  const settings = resolveSettings({ ...options, url: undefined });
  const targets = loadTargets({ targets: options.targets, config: settings.fleet, readStdin: options.readStdin });
  assertGivenPathExists(settings, "dir");
  const files = discoverMigrations(settings.dir);
  // Borrowed sessions skip openSession, which sets it for single-database runs.
  setMigrationTimeout(settings.migrationTimeout);
  const requestTimeoutMs = options.requestTimeoutMs === undefined ? undefined : positive("--request-timeout", options.requestTimeoutMs, 1);
  options.onTargets?.(targets.length);
  return { settings, files, targets, requestTimeoutMs };
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) throw new StrataError("usage", `${name} must be a whole number ≥ ${min}, got ${value}`);
  return value;
}

/** Opens one target for its whole turn: its own token file wins over the usual auth settings. */
async function openTarget(shared: Shared, target: Target, create: boolean): Promise<OpenedDatabase> {
  const authToken = readTargetToken(target) ?? shared.settings.authToken;
  const db: Database = await openDatabase(target.url, {
    authToken,
    create,
    busyTimeoutMs: Math.max(shared.settings.lockTimeoutMs, 1000),
    requestTimeoutMs: shared.requestTimeoutMs,
  });
  return { settings: { ...shared.settings, url: target.url, authToken }, db, files: shared.files };
}

function targetError(e: unknown, target: Target): TargetError {
  const err = e instanceof StrataError ? e : describeDbError(e, target.display);
  return { kind: err.kind, message: err.message, file: err.file ?? null, line: err.line ?? null, hint: err.hint ?? null };
}

export function fleetUp(options: FleetRunOptions): Promise<FleetRunResult> {
  return fleetMigrate("up", options);
}

/** Reverts on every target: one step by default, like `strata down`; --to REV for a fixed goal. */
export function fleetDown(options: FleetRunOptions): Promise<FleetRunResult> {
  return fleetMigrate("down", options);
}

async function fleetMigrate(direction: Direction, options: FleetRunOptions): Promise<FleetRunResult> {
  const started = performance.now();
  const concurrency = positive("--concurrency", options.concurrency, DEFAULT_CONCURRENCY);
  const canary = positive("--canary", options.canary, 0, 0);
  const maxFailures = positive("--max-failures", options.maxFailures, 1);
  const shared = prepare(options);
  if (options.to !== undefined) checkRevisionNamesAFile(options.to, shared.files);
  // Bad input stops the run before any database is touched: every step that could run loads now.
  for (const file of shared.files) if (direction === "up" || file.downPath) await loadStep(file, direction);

  const run = direction === "up" ? up : down;
  const migrateOptions: MigrateOptions = { to: options.to, step: options.step, allowOutOfOrder: options.allowOutOfOrder, logger: silentLogger };
  const previews = new PreviewPolicy();

  const migrateTarget = async (target: Target, index: number): Promise<TargetRecord> => {
    options.onStart?.(target, index);
    const t0 = performance.now();
    const record = (outcome: TargetOutcome, from: string | null, to: string | null, versions: string[], error: TargetError | null): TargetRecord => {
      const r = { target: target.display, origin: target.origin, outcome, from, to, versions, durationMs: Math.round(performance.now() - t0), error };
      options.onDone?.(r, index);
      return r;
    };
    let opened: OpenedDatabase | undefined;
    /** undefined: not read yet (the preview failed). */
    let from: string | null | undefined;
    try {
      opened = await openTarget(shared, target, direction === "up");
      if (previews.wanted()) {
        // One read decides: a database already at the goal is skipped without taking its lock.
        const preview = await run({ ...migrateOptions, opened, dryRun: true });
        from = preview.from;
        if (preview.plan.length === 0) return previews.saw(record("at-goal", preview.from, preview.from, [], null));
      }
      const result: MigrateResult = await run({ ...migrateOptions, opened });
      const versions = doneVersions(result.steps);
      // Another runner (a second fleet run, another machine) may have migrated it meanwhile.
      return previews.saw(record(versions.length > 0 ? "migrated" : "at-goal", result.from, result.to, versions, null));
    } catch (e) {
      const error = targetError(e, target);
      const details = (e as StrataError).details;
      const completed = (details?.completed ?? []) as MigrateResult["steps"];
      // Without a preview, where it started is what the run read under its lock.
      if (from === undefined && details && "from" in details) from = details.from as string | null;
      // What the database is at now, read back (not guessed) unless it cannot be reached.
      let to = from ?? null;
      if (opened && error.kind !== "unreachable") to = await readCurrent(opened).catch(() => to);
      return record("failed", from === undefined ? to : from, to, doneVersions(completed), error);
    } finally {
      opened?.db.close();
    }
  };

  const { results, stoppedBy } = await runPool(shared.targets, migrateTarget, (r) => r.outcome === "failed", {
    concurrency,
    canary,
    maxFailures,
    signal: options.signal,
  });
  const targets = results.map(
    (r, i) => r ?? { target: shared.targets[i]!.display, origin: shared.targets[i]!.origin, outcome: "not-started" as const, from: null, to: null, versions: [], durationMs: 0, error: null },
  );
  const counts: Record<TargetOutcome, number> = { migrated: 0, "at-goal": 0, failed: 0, "not-started": 0 };
  for (const t of targets) counts[t.outcome]++;
  return {
    command: direction === "up" ? "fleet up" : "fleet down",
    ok: counts.failed === 0 && counts["not-started"] === 0,
    goal: goalOf(direction, options),
    total: targets.length,
    counts,
    stoppedBy: stoppedBy ?? null,
    durationMs: Math.round(performance.now() - started),
    targets,
  };
}

/**
 * Whether a target gets a preview read first. The preview skips a database at the goal in one
 * request, without its lock; a database with work pays for it with one request more (4 instead
 * of `up`'s 3: lock + state, the migrations, read-back + unlock). So the targets started before
 * any has finished get one; once one finished with work and none was found at the goal (a
 * release rolling out), the rest go straight to the run, whose first request reads the state
 * under the lock anyway. A database found at the goal brings previews back for the rest of the
 * run (a rerun), so at most `concurrency` databases at the goal cost one request more.
 */
class PreviewPolicy {
  private finished = 0;
  private atGoal = 0;
  wanted(): boolean {
    return this.finished === 0 || this.atGoal > 0;
  }
  saw(record: TargetRecord): TargetRecord {
    this.finished++;
    if (record.outcome === "at-goal") this.atGoal++;
    return record;
  }
}

function goalOf(direction: Direction, options: FleetRunOptions): string {
  if (options.to !== undefined) return options.to;
  if (options.step !== undefined) return `${direction === "up" ? "+" : "-"}${options.step}`;
  return direction === "up" ? "head" : "-1";
}

function doneVersions(steps: MigrateResult["steps"]): string[] {
  return steps.filter((s) => !s.outcome.startsWith("already")).map((s) => s.version);
}

async function readCurrent(opened: OpenedDatabase): Promise<string | null> {
  return (await status({ opened })).current;
}

// ---------------------------------------------------------------- status and check

export type TargetState = "at-head" | "behind" | "drift" | "unreachable";

export interface TargetStatusRecord {
  target: string;
  origin: string;
  state: TargetState;
  current: string | null;
  pending: number;
  changed: string[];
  missing: string[];
  failed: string[];
  outOfOrder: string[];
  /** Held run lock (a run in progress, or a stale one blocking the next run). */
  lock: { host: string; pid: number; command: string; startedAt: string } | null;
  error: TargetError | null;
}

export interface FleetStatusResult {
  command: "fleet status" | "fleet check";
  /** Every target is at head with nothing drifting (what `fleet check` gates on). */
  ok: boolean;
  head: string | null;
  total: number;
  /** How many databases sit at each version (null: base), newest first. */
  versions: { version: string | null; count: number }[];
  counts: Record<TargetState, number>;
  /** Targets not at head or drifting, with why. */
  problems: TargetStatusRecord[];
  targets: TargetStatusRecord[];
}

/** The fleet at a glance: one read per database, nothing written, nothing created. */
export async function fleetStatus(options: FleetOptions): Promise<FleetStatusResult> {
  const concurrency = positive("--concurrency", options.concurrency, DEFAULT_CONCURRENCY);
  const shared = prepare(options);
  const head = shared.files.at(-1)?.version ?? null;

  const inspect = async (target: Target, index: number): Promise<TargetStatusRecord> => {
    options.onStart?.(target, index);
    const base = { target: target.display, origin: target.origin };
    let record: TargetStatusRecord;
    let opened: OpenedDatabase | undefined;
    try {
      opened = await openTarget(shared, target, false);
      record = { ...base, ...stateOf(await status({ opened })), error: null };
    } catch (e) {
      record = { ...base, state: "unreachable", current: null, pending: 0, changed: [], missing: [], failed: [], outOfOrder: [], lock: null, error: targetError(e, target) };
    } finally {
      opened?.db.close();
    }
    options.onDone?.(record, index);
    return record;
  };

  const { results } = await runPool(shared.targets, inspect, () => false, { concurrency, canary: 0, maxFailures: Number.POSITIVE_INFINITY, signal: options.signal });
  const targets = results.filter((r): r is TargetStatusRecord => r !== undefined);
  if (targets.length < shared.targets.length) throw new StrataError("interrupted", `interrupted after ${targets.length} of ${shared.targets.length} targets`);
  const byVersion = new Map<string | null, number>();
  const counts: Record<TargetState, number> = { "at-head": 0, behind: 0, drift: 0, unreachable: 0 };
  for (const t of targets) {
    counts[t.state]++;
    if (t.state !== "unreachable") byVersion.set(t.current, (byVersion.get(t.current) ?? 0) + 1);
  }
  const versions = [...byVersion].map(([version, count]) => ({ version, count })).sort((a, b) => compareNullable(b.version, a.version));
  const problems = targets.filter((t) => t.state !== "at-head");
  return { command: "fleet status", ok: problems.length === 0, head, total: targets.length, versions, counts, problems, targets };
}

/** CI/cron gate: ok only when every database is at head and nothing drifts. */
export async function fleetCheck(options: FleetOptions): Promise<FleetStatusResult> {
  return { ...(await fleetStatus(options)), command: "fleet check" };
}

function stateOf(s: StatusResult): Omit<TargetStatusRecord, "target" | "origin" | "error"> {
  const lock = s.lock ? { host: s.lock.host, pid: s.lock.pid, command: s.lock.command, startedAt: s.lock.startedAt } : null;
  const drift = s.changed.length > 0 || s.missing.length > 0 || s.failed.length > 0 || s.outOfOrder.length > 0 || lock !== null;
  return {
    state: drift ? "drift" : s.pending.length > 0 ? "behind" : "at-head",
    current: s.current,
    pending: s.pending.length,
    changed: s.changed,
    missing: s.missing,
    failed: s.failed,
    outOfOrder: s.outOfOrder,
    lock,
  };
}

function compareNullable(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return BigInt(a) < BigInt(b) ? -1 : 1;
}
