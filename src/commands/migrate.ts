/**
 * up, down and redo: the commands that run migrations.
 */
import { StrataError, messageOf } from "../errors.ts";
import { blockingProblems, currentVersion, isApplied, reconcile, resolveRevision, type Entry } from "../runtime/plan.ts";
import type { StepResult } from "../runtime/migrator.ts";
import { loadStep, type Direction } from "../script/load.ts";
import type { MigrationFile } from "../script/discover.ts";
import type { AppliedRow } from "../runtime/store.ts";
import { withSession, type CommandOptions, type Session } from "./context.ts";

export interface MigrateOptions extends CommandOptions {
  /** Target revision (REV). */
  to?: string | undefined;
  /** Number of migrations to apply/revert. */
  step?: number | undefined;
  dryRun?: boolean | undefined;
  allowOutOfOrder?: boolean | undefined;
  /** Run every migration of this run in one transaction: all commit or none. */
  singleTransaction?: boolean | undefined;
  /** When aborted, no further migration starts (the current one finishes); the run ends "interrupted". */
  signal?: AbortSignal | undefined;
}

export interface PlannedStep {
  version: string;
  name: string;
  direction: Direction;
  file: string;
  kind: "sql" | "ts";
  transaction: boolean;
  /** The SQL statements for SQL migrations (dry run). */
  statements?: string[];
}

export interface MigrateResult {
  command: "up" | "down" | "redo";
  database: string;
  dryRun: boolean;
  from: string | null;
  to: string | null;
  plan: PlannedStep[];
  steps: StepResult[];
  /** Another runner held the lock and applied migrations meanwhile. */
  waitedForLock: boolean;
}

export function up(options: MigrateOptions): Promise<MigrateResult> {
  return migrate("up", options);
}

export function down(options: MigrateOptions): Promise<MigrateResult> {
  return migrate("down", options);
}

/** Down one step, then up one: re-runs the newest migration. */
export function redo(options: MigrateOptions): Promise<MigrateResult> {
  return migrate("redo", options);
}

async function migrate(command: "up" | "down" | "redo", options: MigrateOptions): Promise<MigrateResult> {
  validateStep(options.step);
  if (options.dryRun) return dryRun(command, options);
  return withSession(options, { write: true, validateBeforeCreate: command === "up" }, async (s) => {
    if (options.to !== undefined) checkRevisionNamesAFile(options.to, s.files);
    const started = performance.now();
    // Local: plan from a plain read first. A run with nothing to do writes nothing (no lock,
    // no fsync), and every step is loaded — validated — before the database is written.
    // Remote: take the lock at once; the lock batch reads the state too (round trips).
    if (!s.db.remote) {
      const { entries: preview, ordered: planned } = planRun(command, s.files, (await s.engine.readState()).applied, options);
      for (const p of planned) await loadStep(p.entry.file!, p.direction);
      if (planned.length === 0) {
        const at = currentVersion(preview) ?? null;
        s.logger.info(summary(command, [], at));
        return { command, database: s.db.displayUrl, dryRun: false, from: at, to: at, plan: [], steps: [], waitedForLock: false };
      }
    }
    const { state, lock } = await s.engine.lock(command);
    const steps: StepResult[] = [];
    let plan: PlannedStep[] = [];
    const entries: Entry[] = reconcile(s.files, state.applied);
    const from = currentVersion(entries) ?? null;
    let failure: unknown;
    try {
      const { ordered } = planRun(command, s.files, state.applied, options);
      plan = await Promise.all(ordered.map((p) => describeStep(p.entry, p.direction, false)));
      if (lock.waited && ordered.length === 0) s.logger.info("another runner applied the migrations while this one waited for the lock");
      const items = ordered.map((p) => ({ file: p.entry.file!, direction: p.direction }));
      if (options.singleTransaction && command !== "redo") {
        if (items.length > 0) {
          s.logger.info(`${command === "up" ? "applying" : "reverting"} ${items.length} migration(s) in one transaction`);
          steps.push(...(await s.engine.runAll(items)));
        }
      } else {
        await s.engine.runSteps(
          items,
          (i, total, item, count) => s.logger.stepStarted(i, total, `${item.direction === "up" ? "applying" : "reverting"} ${item.file.version}_${item.file.name}${count > 1 ? ` and ${count - 1} more in one request` : ""}`),
          steps,
          options.signal,
          (i, total, r) => s.logger.stepDone(i, total, `${r.direction === "up" ? "applied" : "reverted"} ${r.version}_${r.name}${r.outcome.startsWith("already") ? " (by another runner)" : ""}`, r.durationMs),
        );
      }
    } catch (e) {
      // Input that failed validation changed nothing: release the lock without an audit entry.
      if (steps.length === 0 && e instanceof StrataError && (e.kind === "migrations" || e.kind === "usage" || e.kind === "state")) {
        await s.engine.unlock();
        throw e;
      }
      failure = e;
    }
    const entry = { command, versions: steps.map((x) => x.version), durationMs: performance.now() - started };
    if (failure !== undefined) {
      // What committed before the failure is reported too, once read back.
      let completed: StepResult[] | undefined;
      try {
        completed = await s.engine.finishRun({ ...entry, result: "error", message: messageOf(failure).slice(0, 500) }, steps);
      } catch (e) {
        s.logger.warn(messageOf(e));
      }
      if (failure instanceof StrataError) failure.details = { ...failure.details, from, ...(steps.length > 0 ? { completed: completed ?? [], ...(completed ? {} : { unconfirmed: steps }) } : {}) };
      throw failure;
    }
    const confirmed = await s.engine.finishRun({ ...entry, result: "ok" }, steps);
    for (const result of confirmed) {
      if (result.outcome.startsWith("already")) s.logger.info(`${result.version} was ${result.direction === "up" ? "applied" : "reverted"} by another runner meanwhile`);
    }
    const to = versionAfter(entries, confirmed);
    s.logger.info(summary(command, confirmed, to));
    return { command, database: s.db.displayUrl, dryRun: false, from, to, plan, steps: confirmed, waitedForLock: lock.waited };
  });
}

/** The version the database is at after `steps` ran from `entries`: no extra round trip. */
function versionAfter(entries: Entry[], steps: { version: string; direction: Direction }[]): string | null {
  const applied = new Set(entries.filter(isApplied).map((e) => e.version));
  for (const s of steps) {
    if (s.direction === "up") applied.add(s.version);
    else applied.delete(s.version);
  }
  return entries.filter((e) => applied.has(e.version)).at(-1)?.version ?? null;
}

/**
 * A version or prefix must name a migration file: checked before the lock is taken, so a typo
 * in --to never touches the database. (+N/-N, head and base depend on the database state.)
 */
export function checkRevisionNamesAFile(rev: string, files: MigrationFile[]): void {
  const text = rev.trim();
  if (!/^\d+$/.test(text)) return;
  resolveRevision(text, files.map((f) => ({ version: f.version, name: f.name, state: "pending" as const, file: f, row: undefined, outOfOrder: false })));
}

function validateStep(step: number | undefined): void {
  if (step !== undefined && (!Number.isInteger(step) || step < 1)) {
    throw new StrataError("usage", `--step must be a positive whole number, got ${step}`);
  }
}

interface OrderedStep {
  entry: Entry;
  direction: Direction;
}

/** Files + version rows → the entries and the ordered steps; throws what forbids the run. */
function planRun(command: "up" | "down" | "redo", files: MigrationFile[], applied: AppliedRow[], options: MigrateOptions): { entries: Entry[]; ordered: OrderedStep[] } {
  const entries = reconcile(files, applied);
  const problem = blockingProblems(entries);
  if (problem) throw problem;
  return { entries, ordered: planSteps(command, entries, options) };
}

/** Decides which migrations run, in order. Pure apart from its errors. */
export function planSteps(command: "up" | "down" | "redo", entries: Entry[], options: MigrateOptions): OrderedStep[] {
  if (options.to !== undefined && options.step !== undefined) {
    throw new StrataError("usage", "--to and --step cannot be combined", { hint: "give one of them" });
  }
  if (command === "redo") {
    const last = [...entries].reverse().find(isApplied);
    if (!last) throw new StrataError("state", "nothing to redo: no migration is applied");
    return [{ entry: last, direction: "down" }, { entry: last, direction: "up" }];
  }
  if (command === "up") {
    const target = options.to === undefined ? entries.length - 1 : resolveRevision(options.to, entries);
    const cur = entries.reduce((c, e, i) => (isApplied(e) ? i : c), -1);
    if (options.to !== undefined && target < cur) {
      throw new StrataError("usage", `revision ${options.to} is below the current version ${entries[cur]!.version}`, {
        hint: "use `strata down --to` to go back",
      });
    }
    let pending = entries.filter((e, i) => e.state === "pending" && i <= target);
    const outOfOrder = pending.filter((e) => e.outOfOrder);
    if (outOfOrder.length > 0 && !options.allowOutOfOrder) {
      throw new StrataError("state", `pending migration(s) older than the newest applied one: ${outOfOrder.map((e) => `${e.version}_${e.name}`).join(", ")}`, {
        hint: "they were probably merged from another branch; check they are independent, then rerun with --allow-out-of-order",
        details: { outOfOrder: outOfOrder.map((e) => e.version) },
      });
    }
    if (options.step !== undefined) pending = pending.slice(0, options.step);
    return pending.map((entry) => ({ entry, direction: "up" as const }));
  }
  const applied = entries.filter(isApplied).reverse();
  let revert: Entry[];
  if (options.to !== undefined) {
    const target = resolveRevision(options.to, entries);
    const targetEntry = entries[target];
    if (targetEntry && !isApplied(targetEntry)) {
      throw new StrataError("usage", `revision ${targetEntry.version} is not applied`, { hint: "`strata down --to` takes an applied revision, or base" });
    }
    revert = applied.filter((e) => entries.indexOf(e) > target);
  } else {
    revert = applied.slice(0, options.step ?? 1);
  }
  const irreversible = revert.find((e) => e.file && !e.file.downPath);
  if (irreversible) {
    throw new StrataError("state", `cannot go down past ${irreversible.version}_${irreversible.name}: it is irreversible (no down)`, {
      file: irreversible.file!.upPath,
      hint: "stop at a later revision with --to, or restore a backup (`strata restore`)",
    });
  }
  return revert.map((entry) => ({ entry, direction: "down" as const }));
}

async function describeStep(entry: Entry, direction: Direction, withSql: boolean): Promise<PlannedStep> {
  const file = entry.file!;
  const step = await loadStep(file, direction);
  return {
    version: entry.version,
    name: entry.name,
    direction,
    file: step.file,
    kind: step.kind,
    transaction: step.transaction,
    ...(withSql && step.kind === "sql" ? { statements: step.statements.map((x) => x.sql) } : {}),
  };
}

/** Plans without writing anything: not even strata's own tables are created. */
async function dryRun(command: "up" | "down" | "redo", options: MigrateOptions): Promise<MigrateResult> {
  return withSession(options, { write: false }, async (s: Session) => {
    const { entries, ordered } = planRun(command, s.files, (await s.engine.readState()).applied, options);
    const plan = await Promise.all(ordered.map((p) => describeStep(p.entry, p.direction, true)));
    const from = currentVersion(entries) ?? null;
    const to = versionAfter(entries, ordered.map((p) => ({ version: p.entry.version, direction: p.direction })));
    return { command, database: s.db.displayUrl, dryRun: true, from, to, plan, steps: [], waitedForLock: false };
  });
}

function summary(command: string, steps: StepResult[], to: string | null): string {
  const done = steps.filter((x) => !x.outcome.startsWith("already"));
  if (steps.length === 0) return `nothing to do; database is at ${to ?? "base"}`;
  const verb = command === "down" ? "reverted" : command === "redo" ? "redid" : "applied";
  const ms = steps.reduce((a, x) => a + x.durationMs, 0);
  return `${verb} ${command === "redo" ? 1 : done.length} migration(s) in ${ms} ms; database is at ${to ?? "base"}`;
}
