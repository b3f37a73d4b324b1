/**
 * up, down and redo as the command line runs them: the library call (src/commands/migrate.ts)
 * inside the signal handling, --dump-schema and the output. Free of cmd-ts: ./commands.ts
 * declares the options and calls these, and the start-up fast path (./fast.ts) calls runUp
 * directly for a plain `up`, so the two paths cannot drift apart.
 */
import process from "node:process";
import { ExitCode, StrataError } from "../errors.ts";
import type { Logger } from "../output/logger.ts";
import { interruptible } from "./signals.ts";
import { renderMigrate } from "./render.ts";
import { commandOptions, loggerFor, runVerb, type CommonValues } from "./verb.ts";

/** The values of up's options (down's and redo's are a subset). */
export interface MigrateValues extends CommonValues {
  to: string | undefined;
  rev: string | undefined;
  step: number | undefined;
  dryRun: boolean;
  singleTransaction: boolean;
  dumpSchema: string | undefined;
  allowOutOfOrder: boolean;
}

function pickTarget(to: string | undefined, rev: string | undefined): string | undefined {
  if (to !== undefined && rev !== undefined && to !== rev) throw new StrataError("usage", `two targets given: ${rev} and --to ${to}`);
  return to ?? rev;
}

/** --dump-schema's folder is checked before the run: a missing one found afterwards fails a run that did its work. */
async function checkDumpTarget(a: { dumpSchema: string | undefined; dryRun: boolean }): Promise<void> {
  if (!a.dumpSchema || a.dryRun) return;
  const { assertOutputFolderExists } = await import("../config/settings.ts");
  assertOutputFolderExists(a.dumpSchema, "--dump-schema");
}

/** --dump-schema FILE on up/down: write the live schema after a real run. */
async function dumpAfter(a: CommonValues & { dumpSchema: string | undefined; dryRun: boolean }, logger: Logger): Promise<void> {
  if (!a.dumpSchema || a.dryRun) return;
  const { schemaDump } = await import("../commands/schema.ts");
  const r = await schemaDump({ ...commandOptions(a, logger), out: a.dumpSchema });
  logger.info(`wrote the schema to ${r.out}`);
}

/** SIGINT and SIGTERM stop the run between migrations (./signals.ts). */
async function runMigration<T>(command: string, a: CommonValues, fn: (logger: Logger, signal: AbortSignal) => Promise<T>, renderResult: (r: T) => string): Promise<void> {
  const interruption = interruptible(loggerFor(a));
  try {
    await runVerb(command, a, (logger) => fn(logger, interruption.signal), renderResult);
    // An interrupted run exits with the signal's code: 130 for SIGINT, 143 for SIGTERM.
    const signalled = interruption.exitCode();
    if (signalled !== undefined && process.exitCode === ExitCode.interrupted) process.exitCode = signalled;
  } finally {
    interruption.dispose();
  }
}

export function runUp(a: MigrateValues): Promise<void> {
  return runMigration("up", a, async (logger, signal) => {
    await checkDumpTarget(a);
    const { up } = await import("../commands/migrate.ts");
    const result = await up({ ...commandOptions(a, logger), signal, to: pickTarget(a.to, a.rev), step: a.step, dryRun: a.dryRun, allowOutOfOrder: a.allowOutOfOrder, singleTransaction: a.singleTransaction });
    await dumpAfter(a, logger);
    return result;
  }, renderMigrate);
}

export function runDown(a: Omit<MigrateValues, "allowOutOfOrder">): Promise<void> {
  return runMigration("down", a, async (logger, signal) => {
    await checkDumpTarget(a);
    const { down } = await import("../commands/migrate.ts");
    const result = await down({ ...commandOptions(a, logger), signal, to: pickTarget(a.to, a.rev), step: a.step, dryRun: a.dryRun, singleTransaction: a.singleTransaction });
    await dumpAfter(a, logger);
    return result;
  }, renderMigrate);
}

export function runRedo(a: CommonValues & { dryRun: boolean }): Promise<void> {
  return runMigration("redo", a, async (logger, signal) => {
    const { redo } = await import("../commands/migrate.ts");
    return redo({ ...commandOptions(a, logger), signal, dryRun: a.dryRun });
  }, renderMigrate);
}
