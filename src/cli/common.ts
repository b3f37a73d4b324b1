/**
 * The options shared by every command, as cmd-ts declares them. Running a verb with their values
 * (result or error -> output and an exit code) is ./verb.ts, which has no cmd-ts in it.
 */
import { flag, option, optional, string } from "cmd-ts";

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
