/**
 * Settings resolution: flags > environment > strata.toml > defaults. Every command resolves its
 * settings here, once, so precedence is the same everywhere and `--verbose` can say where each
 * value came from.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { parse as parseToml } from "smol-toml";
import { StrataError, messageOf } from "../errors.ts";
import { parseDuration } from "./duration.ts";
import { registerSecret, registerUrlSecrets } from "../output/redact.ts";

/** Values given on the command line; undefined = not given. */
export interface FlagValues {
  url?: string | undefined;
  authToken?: string | undefined;
  authTokenFile?: string | undefined;
  dir?: string | undefined;
  table?: string | undefined;
  config?: string | undefined;
  schema?: string | undefined;
  lockTimeout?: string | undefined;
  /** --strict-column-order: autogenerate/check compare column order too. */
  strictColumnOrder?: boolean | undefined;
  /** Per-migration timeout for TS migrations without their own; "none" or noTimeout: no limit. */
  migrationTimeout?: string | undefined;
  noTimeout?: boolean | undefined;
}

export type Source = "flag" | "env" | "config" | "default" | "url";

export interface Settings {
  /** Normalized database URL (`file:` for local paths); undefined when none was given anywhere. */
  url: string | undefined;
  authToken: string | undefined;
  dir: string;
  table: string;
  schema: string;
  lockTimeoutMs: number;
  strictColumnOrder: boolean;
  /** Milliseconds, or "none". */
  migrationTimeout: number | "none";
  configFile: string | undefined;
  /** strata.toml's fleet targets: `targets = "FILE"` or `[[fleet]]` entries (strata fleet). */
  fleet: FleetConfig | undefined;
  sources: Record<"url" | "authToken" | "dir" | "table" | "schema" | "lockTimeout" | "migrationTimeout", Source>;
}

export const DEFAULTS = {
  dir: "migrations",
  table: "strata_migrations",
  schema: "schema.sql",
  lockTimeout: "60s",
  migrationTimeout: "15m",
  configFile: "strata.toml",
} as const;

/** Environment variables read, by setting (first one set wins). */
export const ENV = {
  url: ["DATABASE_URL"],
  authToken: ["DATABASE_AUTH_TOKEN", "LIBSQL_AUTH_TOKEN", "TURSO_AUTH_TOKEN"],
  authTokenFile: ["DATABASE_AUTH_TOKEN_FILE"],
  dir: ["STRATA_DIR"],
  table: ["STRATA_TABLE"],
  config: ["STRATA_CONFIG"],
  schema: ["STRATA_SCHEMA"],
  lockTimeout: ["STRATA_LOCK_TIMEOUT"],
  strictColumnOrder: ["STRATA_STRICT_COLUMN_ORDER"],
  migrationTimeout: ["STRATA_MIGRATION_TIMEOUT"],
} as const;

const CONFIG_KEYS = ["url", "auth_token_file", "dir", "table", "schema", "lock_timeout", "migration_timeout", "targets", "strict_column_order"] as const;
type ConfigKey = (typeof CONFIG_KEYS)[number];
type ConfigFile = Partial<Record<ConfigKey, string>> & { fleet?: FleetEntry[] };

/** One `[[fleet]]` table: a database URL and, optionally, its own token file. */
export interface FleetEntry {
  url: string;
  tokenFile?: string | undefined;
}

/** Where strata.toml says the fleet's targets are; paths are resolved against the config's folder. */
export type FleetConfig = { configFile: string } & ({ targetsFile: string } | { entries: FleetEntry[] });

const FLEET_KEYS = ["url", "auth_token_file"];

function readFleetTables(value: unknown, file: string): FleetEntry[] {
  const bad = (why: string) => new StrataError("config", `[[fleet]] ${why}`, { file, hint: 'each [[fleet]] table takes url = "…" and optionally auth_token_file = "…"' });
  if (!Array.isArray(value)) throw bad("must be an array of tables ([[fleet]])");
  return value.map((t: unknown, i) => {
    if (typeof t !== "object" || t === null) throw bad(`entry ${i + 1} is not a table`);
    const unknown = Object.keys(t).find((k) => !FLEET_KEYS.includes(k));
    if (unknown !== undefined) throw bad(`entry ${i + 1}: unknown key "${unknown}"`);
    const { url, auth_token_file: tokenFile } = t as Record<string, unknown>;
    if (typeof url !== "string" || url.trim() === "") throw bad(`entry ${i + 1} needs url = "…"`);
    if (tokenFile !== undefined && typeof tokenFile !== "string") throw bad(`entry ${i + 1}: auth_token_file must be a string`);
    return { url, tokenFile };
  });
}

function fromEnv(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) {
    const v = env[name];
    if (v !== undefined && v !== "") return v;
  }
  return undefined;
}

function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new StrataError("config", `cannot read config file ${file}: ${messageOf(e)}`, {
      hint: "check the --config path (or STRATA_CONFIG)",
    });
  }
  let data: Record<string, unknown>;
  try {
    data = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    const line = (e as { line?: number }).line;
    throw new StrataError("config", `invalid TOML: ${messageOf(e).split("\n")[0]}`, { file, line });
  }
  const out: ConfigFile = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === "fleet") {
      out.fleet = readFleetTables(value, file);
      continue;
    }
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new StrataError("config", `unknown key "${key}" in config file`, {
        file,
        hint: `known keys: ${CONFIG_KEYS.join(", ")}, [[fleet]]`,
      });
    }
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new StrataError("config", `key "${key}" must be a string`, { file });
    }
    out[key as ConfigKey] = String(value);
  }
  return out;
}

/**
 * Turns what users write into a URL @libsql/client accepts: plain paths and Alembic-style
 * `sqlite:///x.db` become `file:` URLs; relative paths are resolved against `baseDir`.
 */
export function normalizeUrl(raw: string, baseDir: string): string {
  const url = raw.trim();
  if (url === ":memory:" || url === "file::memory:") return ":memory:";
  const sqlalchemy = /^sqlite(?:\+\w+)?:\/\/\/(.*)$/.exec(url);
  if (sqlalchemy) return "file:" + path.resolve(baseDir, sqlalchemy[1]!);
  if (/^(libsql|https?|wss?):\/\//i.test(url)) return url;
  if (/^file:/i.test(url)) {
    const rest = url.slice(5).replace(/^\/\/(?=\/)/, "");
    const [p, query] = splitQuery(rest);
    return "file:" + path.resolve(baseDir, p) + query;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new StrataError("usage", `unsupported database URL scheme in "${url.split("://")[0]}://…"`, {
      hint: "use a file path, file:PATH, libsql://, https://, http://, wss:// or ws://",
    });
  }
  return "file:" + path.resolve(baseDir, url);
}

function splitQuery(s: string): [string, string] {
  const i = s.indexOf("?");
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i)];
}

export function isRemoteUrl(url: string): boolean {
  return /^(libsql|https?|wss?):\/\//i.test(url);
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function resolveSettings(flags: FlagValues, options: ResolveOptions = {}): Settings {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  // The config file: explicit (must exist) or ./strata.toml when present.
  const explicitConfig = flags.config ?? fromEnv(env, ENV.config);
  let configFile: string | undefined;
  if (explicitConfig !== undefined) configFile = path.resolve(cwd, explicitConfig);
  else if (fs.existsSync(path.join(cwd, DEFAULTS.configFile))) configFile = path.join(cwd, DEFAULTS.configFile);
  const config = configFile ? readConfigFile(configFile) : {};
  const configDir = configFile ? path.dirname(configFile) : cwd;

  const sources = {} as Settings["sources"];
  function pick(key: keyof Settings["sources"], flag: string | undefined, envNames: readonly string[], cfg: string | undefined, def: string | undefined) {
    const envValue = fromEnv(env, envNames);
    if (flag !== undefined) return (sources[key] = "flag"), { value: flag, base: cwd };
    if (envValue !== undefined) return (sources[key] = "env"), { value: envValue, base: cwd };
    if (cfg !== undefined) return (sources[key] = "config"), { value: cfg, base: configDir };
    sources[key] = "default";
    return { value: def, base: cwd };
  }

  const url = pick("url", flags.url, ENV.url, config.url, undefined);
  const dir = pick("dir", flags.dir, ENV.dir, config.dir, DEFAULTS.dir);
  const table = pick("table", flags.table, ENV.table, config.table, DEFAULTS.table);
  const schema = pick("schema", flags.schema, ENV.schema, config.schema, DEFAULTS.schema);
  const lockTimeout = pick("lockTimeout", flags.lockTimeout, ENV.lockTimeout, config.lock_timeout, DEFAULTS.lockTimeout);

  const migrationTimeout = pick("migrationTimeout", flags.noTimeout ? "none" : flags.migrationTimeout, ENV.migrationTimeout, config.migration_timeout, DEFAULTS.migrationTimeout);

  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table.value!)) {
    throw new StrataError("usage", `invalid table name "${table.value}"`, {
      hint: "use letters, digits and underscores (e.g. strata_migrations)",
    });
  }

  if (config.targets !== undefined && config.fleet !== undefined) {
    throw new StrataError("config", "both targets = … and [[fleet]] tables in config file", { file: configFile, hint: "keep one of them" });
  }
  let fleet: FleetConfig | undefined;
  if (config.targets !== undefined) fleet = { configFile: configFile!, targetsFile: path.resolve(configDir, config.targets) };
  else if (config.fleet !== undefined) fleet = { configFile: configFile!, entries: config.fleet };
  const strictColumnOrder = parseBoolean(
    flags.strictColumnOrder ? "true" : fromEnv(env, ENV.strictColumnOrder) ?? config.strict_column_order ?? "false",
    "strict_column_order",
  );

  const authToken = resolveAuthToken(flags, env, config, configDir, cwd, sources);
  registerSecret(authToken);
  registerUrlSecrets(url.value); // before anything can print it (a malformed URL's error, say)
  const normalized = url.value === undefined ? undefined : normalizeUrl(url.value, url.base);
  registerUrlSecrets(normalized);

  return {
    url: normalized,
    authToken,
    dir: path.resolve(dir.base, dir.value!),
    table: table.value!,
    schema: path.resolve(schema.base, schema.value!),
    lockTimeoutMs: parseDuration(lockTimeout.value!, "lock timeout"),
    strictColumnOrder,
    migrationTimeout: /^\s*none\s*$/i.test(migrationTimeout.value!) ? "none" : parseDuration(migrationTimeout.value!, "migration timeout"),
    configFile,
    fleet,
    sources,
  };
}

function parseBoolean(value: string, what: string): boolean {
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new StrataError("config", `${what} must be true or false, not "${value}"`, { hint: `e.g. ${what} = true in strata.toml` });
}

const PATH_LABEL = {
  dir: { what: "migrations folder", flag: "--dir", env: "STRATA_DIR", config: "dir" },
  schema: { what: "schema file", flag: "--schema", env: "STRATA_SCHEMA", config: "schema" },
} as const;

/**
 * A path the user gave (flag, environment or strata.toml) must exist: a gate that silently
 * compares nothing, or a cron job run from the wrong folder, is a configuration error (exit 2).
 * Defaults that are absent are left to the command (a fresh project has no ./migrations yet).
 */
export function assertGivenPathExists(settings: Settings, key: keyof typeof PATH_LABEL): void {
  const source = settings.sources[key];
  if (source === "default" || fs.existsSync(settings[key])) return;
  const label = PATH_LABEL[key];
  const given = source === "flag" ? label.flag : source === "env" ? `$${label.env}` : `${label.config} = in ${settings.configFile}`;
  throw new StrataError("config", `${label.what} ${settings[key]} does not exist (given by ${given})`, {
    hint: `fix the path${key === "dir" ? " (or create the folder)" : ""}, or leave out ${label.flag} / ${label.env} / ${label.config} = to use the default`,
  });
}

/**
 * The folder an output file goes into must exist, checked before anything runs: finding out
 * after the migrations were applied would fail a run that did its work.
 */
export function assertOutputFolderExists(file: string, given: string): void {
  const folder = path.dirname(path.resolve(file));
  if (fs.existsSync(folder) && fs.statSync(folder).isDirectory()) return;
  throw new StrataError("config", `folder ${folder} for ${given} ${file} does not exist`, { hint: "create the folder, or write the file elsewhere" });
}

function resolveAuthToken(
  flags: FlagValues,
  env: NodeJS.ProcessEnv,
  config: ConfigFile,
  configDir: string,
  cwd: string,
  sources: Settings["sources"],
): string | undefined {
  const readTokenFile = (file: string) => {
    try {
      return fs.readFileSync(file, "utf8").trim();
    } catch (e) {
      throw new StrataError("config", `cannot read auth token file ${file}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`, {
        hint: "check --auth-token-file / DATABASE_AUTH_TOKEN_FILE / auth_token_file",
      });
    }
  };
  sources.authToken = "flag";
  if (flags.authToken !== undefined) return flags.authToken;
  if (flags.authTokenFile !== undefined) return readTokenFile(path.resolve(cwd, flags.authTokenFile));
  sources.authToken = "env";
  const envToken = fromEnv(env, ENV.authToken);
  if (envToken !== undefined) return envToken;
  const envFile = fromEnv(env, ENV.authTokenFile);
  if (envFile !== undefined) return readTokenFile(path.resolve(cwd, envFile));
  sources.authToken = "config";
  if (config.auth_token_file !== undefined) return readTokenFile(path.resolve(configDir, config.auth_token_file));
  sources.authToken = "url";
  return undefined;
}

/** The error for a command that needs a database when none was configured. */
export function requireUrl(settings: Settings): string {
  if (settings.url !== undefined) return settings.url;
  throw new StrataError("config", "no database URL configured", {
    hint: `pass --url, set DATABASE_URL, or add url = "…" to strata.toml`,
  });
}
