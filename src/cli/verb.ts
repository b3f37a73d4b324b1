/**
 * Running a verb with the shared options' values: the result (or error) becomes output and an
 * exit code. Free of cmd-ts, so the start-up fast path (./fast.ts) runs `up` through the same
 * code as ./commands.ts does.
 */
import process from "node:process";
import { ExitCode, StrataError, messageOf } from "../errors.ts";
import { Logger } from "../output/logger.ts";
import { parseDuration } from "../config/duration.ts";
import { printJson, printResult } from "./print.ts";
import type { CommandOptions } from "../commands/context.ts";
import type { FlagValues } from "../config/settings.ts";

/** Values of the shared options; a verb that does not offer one of them leaves it undefined. */
export interface CommonValues extends Omit<FlagValues, "schema" | "strictColumnOrder"> {
  wait?: boolean | undefined;
  waitTimeout?: string | undefined;
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

export function loggerFor(v: CommonValues): Logger {
  return new Logger({ quiet: v.quiet, verbose: v.verbose });
}

export function commandOptions(v: CommonValues, logger: Logger): CommandOptions {
  return {
    url: v.url,
    authToken: v.authToken,
    authTokenFile: v.authTokenFile,
    dir: v.dir,
    table: v.table,
    config: v.config,
    lockTimeout: v.lockTimeout,
    migrationTimeout: v.migrationTimeout,
    noTimeout: v.noTimeout,
    waitMs: v.wait || v.waitTimeout !== undefined ? parseDuration(v.waitTimeout ?? "60s", "wait timeout") : undefined,
    logger,
  };
}

/**
 * Runs a verb: calls `fn`, prints its result as JSON or text, maps errors to one line and an
 * exit code. Sets process.exitCode rather than exiting, so pending output is flushed.
 */
export async function runVerb<T>(
  command: string,
  v: CommonValues,
  fn: (logger: Logger) => Promise<T>,
  render: (result: T) => string,
  exitCodeOf: (result: T) => number = () => ExitCode.ok,
): Promise<void> {
  const logger = loggerFor(v);
  try {
    const result = await fn(logger);
    const code = exitCodeOf(result);
    printResult(command, v, result, render, code);
    process.exitCode = code;
  } catch (e) {
    process.exitCode = reportError(command, e, v, logger);
  }
}

export function reportError(command: string, e: unknown, v: { json: boolean; verbose: boolean }, logger: Logger): number {
  const err = e instanceof StrataError ? e : new StrataError("failure", messageOf(e), { cause: e });
  const where = err.where ? `${err.where}: ` : "";
  // One line: what, where, and what to do.
  logger.error(`${where}${err.message}${err.hint ? ` — ${err.hint}` : ""}`);
  if (v.verbose) {
    const stack = (err.cause instanceof Error ? err.cause.stack : undefined) ?? err.stack;
    if (stack) logger.debug(stack);
  }
  if (v.json) {
    printJson({
      ok: false,
      command,
      error: {
        kind: err.kind,
        message: err.message,
        hint: err.hint ?? null,
        file: err.file ?? null,
        line: err.line ?? null,
        exitCode: err.exitCode,
        ...(err.details ? { details: err.details } : {}),
      },
    });
  }
  return err.exitCode;
}
