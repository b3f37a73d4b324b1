/**
 * Options shared by every command, and the code that turns a command's result (or error) into
 * output and an exit code. Each verb in ./commands.ts is a thin wrapper over a library function.
 */
import process from "node:process";
import { flag, option, optional, string } from "cmd-ts";
import { ExitCode, StrataError, messageOf } from "../errors.ts";
import { Logger } from "../output/logger.ts";
import { parseDuration } from "../config/duration.ts";
import { printJson, printResult } from "./print.ts";
import type { CommandOptions } from "../commands/context.ts";
import type { FlagValues } from "../config/settings.ts";

/** Where the database is and how to reach it. */
export const connectionArgs = {
  url: option({ type: optional(string), long: "url", description: "database URL: a file path, file:PATH, libsql://, https://, wss:// … [env DATABASE_URL]" }),
  authToken: option({ type: optional(string), long: "auth-token", description: "auth token for a remote database [env DATABASE_AUTH_TOKEN, LIBSQL_AUTH_TOKEN, TURSO_AUTH_TOKEN]" }),
  authTokenFile: option({ type: optional(string), long: "auth-token-file", description: "read the auth token from this file (systemd credentials) [env DATABASE_AUTH_TOKEN_FILE]" }),
};

/** strata's tables and the waits of a command that reads or writes them. */
export const tableArgs = {
  table: option({ type: optional(string), long: "table", description: "version table name (default strata_migrations) [env STRATA_TABLE]" }),
  lockTimeout: option({ type: optional(string), long: "lock-timeout", description: "how long to wait for another runner's lock or a busy database: 30, 30s, 2m (default 60s) [env STRATA_LOCK_TIMEOUT]" }),
  wait: flag({ long: "wait", description: "first wait until the database answers (see --wait-timeout)" }),
  waitTimeout: option({ type: optional(string), long: "wait-timeout", description: "how long --wait waits: 30, 30s, 2m (default 60s)" }),
};

/** Only for verbs that run migrations (TS ones can hang). */
export const runArgs = {
  migrationTimeout: option({ type: optional(string), long: "migration-timeout", description: "fail a TS migration still running after this long: 10m, 1h, none (default 15m; a migration's `export const timeout` wins) [env STRATA_MIGRATION_TIMEOUT]" }),
  noTimeout: flag({ long: "no-timeout", description: "no time limit for any migration" }),
};

/** Everything about reaching the database and running migrations on it. */
export const databaseArgs = { ...connectionArgs, ...tableArgs, ...runArgs };

export const dirArgs = {
  dir: option({ type: optional(string), long: "dir", description: "migrations folder (default ./migrations) [env STRATA_DIR]" }),
};

export const configArgs = {
  config: option({ type: optional(string), long: "config", description: "config file (default ./strata.toml when present) [env STRATA_CONFIG]" }),
};

/** Where the project's files are. */
export const projectArgs = { ...dirArgs, ...configArgs };

/** How results and logs are printed. */
export const outputArgs = {
  json: flag({ long: "json", description: "print a machine-readable JSON result on stdout (logs stay on stderr)" }),
  quiet: flag({ long: "quiet", short: "q", description: "print nothing on success; errors and warnings on stderr, the exit code says the rest" }),
  verbose: flag({ long: "verbose", short: "v", description: "more detail, and stack traces on errors" }),
};

/**
 * Every shared option: what `strata help` lists as global. A verb offers only the groups it
 * uses (an option that does nothing would lie): migrating verbs take all of them.
 */
export const commonArgs = { ...databaseArgs, ...projectArgs, ...outputArgs };

/** A verb that reads or writes one database's strata tables, but runs no migration. */
export const inspectArgs = { ...connectionArgs, ...tableArgs, ...projectArgs, ...outputArgs };

/** Long names of the shared options: help lists them after a verb's own. */
export const SHARED_OPTION_NAMES: ReadonlySet<string> = new Set(
  Object.values(commonArgs).flatMap((a) => a.helpTopics().map((topic) => topic.usage.split(/[ ,]/)[0]!)),
);

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
