/**
 * strata as a library: the same functions the CLI's verbs call, with typed results.
 * Every function takes the CLI's options as an object (`url`, `dir`, `authToken`, `table`, …;
 * unset ones come from the environment and strata.toml as on the command line) and either
 * returns its result or throws a StrataError (`kind`, `message`, `hint`, `exitCode`).
 *
 * @example
 * import { migrate, status } from "strata";
 *
 * // At app start: bring the database to head, then start serving.
 * const result = await migrate({ url: "file:calendar_app.db", dir: "./migrations" });
 * for (const step of result.steps) console.log(step.outcome, step.version, step.name);
 *
 * const s = await status({ url: "file:calendar_app.db", dir: "./migrations" });
 * if (s.pending.length > 0) throw new Error("database is not at head");
 */
import { down, redo, up, type MigrateOptions, type MigrateResult } from "./commands/migrate.ts";

export { up, down, redo };
export type { MigrateOptions, MigrateResult, PlannedStep } from "./commands/migrate.ts";

/** Applies pending migrations (`strata up`): to head, or to `to` / `step`. */
export function migrate(options: MigrateOptions): Promise<MigrateResult> {
  return up(options);
}

/** Reverts migrations (`strata down`): one step by default, `to: "base"` reverts all. */
export function rollback(options: MigrateOptions): Promise<MigrateResult> {
  return down(options);
}

export { status, current, history } from "./commands/inspect.ts";
export type { StatusResult, CurrentResult, HistoryOptions, HistoryResult, MigrationInfo } from "./commands/inspect.ts";
export { stamp, resolve, unlock } from "./commands/record.ts";
export type { StampOptions, StampResult, ResolveOptions, ResolveResult, UnlockResult } from "./commands/record.ts";
export { check, autogenerate, schemaDump, initFromDb } from "./commands/schema.ts";
export type { CheckResult, AutogenerateResult, DumpResult, InitResult } from "./commands/schema.ts";
export { waitForDatabase } from "./commands/wait.ts";
export type { WaitResult } from "./commands/wait.ts";
export { newMigration } from "./commands/new.ts";
export type { NewOptions, NewResult } from "./commands/new.ts";
export { backup } from "./commands/backup.ts";
export type { BackupOptions, BackupResult } from "./commands/backup.ts";
export { restore } from "./commands/restore.ts";
export type { RestoreOptions, RestoreResult } from "./commands/restore.ts";
export { deploy } from "./commands/deploy.ts";
export type { DeployOptions, DeployResult, DeployStep } from "./commands/deploy.ts";
export { lint } from "./commands/lint.ts";
export type { LintOptions, LintResult } from "./commands/lint.ts";
export type { Finding, Code as LintCode, Category as LintCategory } from "./lint/findings.ts";
export { rehearse } from "./commands/rehearse.ts";
export type { RehearseOptions, RehearseResult, RehearsedMigration, RehearsalFailure } from "./commands/rehearse.ts";
export { fleetUp, fleetDown, fleetStatus, fleetCheck } from "./commands/fleet.ts";
export type { FleetOptions, FleetRunOptions, FleetRunResult, FleetStatusResult, TargetRecord, TargetStatusRecord } from "./commands/fleet.ts";
export type { CommandOptions } from "./commands/context.ts";
export type { StepResult, Outcome } from "./runtime/migrator.ts";
export type { Logger } from "./output/logger.ts";
export { StrataError, ExitCode } from "./errors.ts";
export type { ErrorKind } from "./errors.ts";
export { updateInBatches } from "./script/batch.ts";
export type { UpdateInBatchesOptions, UpdateInBatchesResult, MigrationHelpers, BatchRow, BatchValue } from "./script/batch.ts";
