/**
 * Help text in the style of dbmate and goose: a verb's own options first, then the shared ones,
 * then the environment variables it reads and examples. Plain text (no colour codes), so it reads
 * the same in a terminal, a pager and a CI log.
 */
import type { CommandHelpData, HelpFormatter, SubcommandsHelpData } from "cmd-ts";
import type { HelpTopic } from "cmd-ts/dist/esm/helpdoc.js";
import { SHARED_OPTION_NAMES, commonArgs } from "./common.ts";

/** Documented exit codes (also README "Exit codes"). */
export const EXIT_CODES: ReadonlyArray<[number, string]> = [
  [0, "success"],
  [1, "failure: a migration failed (rolled back), the state forbids the command, check found differences"],
  [2, "usage or configuration error: bad flags, missing file given by a flag/env/config, no database URL"],
  [3, "status --exit-code: migrations are pending"],
  [4, "cannot reach or open the database (or the binary cannot load its native module)"],
  [5, "lock timeout: another runner held the database longer than --lock-timeout"],
  [6, "fleet: some databases failed"],
  [130, "interrupted by SIGINT (Ctrl-C); 143: by SIGTERM"],
];

const ENVIRONMENT: ReadonlyArray<[string, string]> = [
  ["DATABASE_URL", "database URL (--url)"],
  ["DATABASE_AUTH_TOKEN", "auth token (also LIBSQL_AUTH_TOKEN, TURSO_AUTH_TOKEN)"],
  ["DATABASE_AUTH_TOKEN_FILE", "file holding the auth token (--auth-token-file)"],
  ["STRATA_DIR", "migrations folder (--dir)"],
  ["STRATA_TABLE", "version table (--table)"],
  ["STRATA_CONFIG", "config file (--config)"],
  ["STRATA_SCHEMA", "declarative schema file (--schema)"],
  ["STRATA_LOCK_TIMEOUT", "lock wait (--lock-timeout)"],
  ["STRATA_MIGRATION_TIMEOUT", "time limit of a TS migration (--migration-timeout)"],
  ["STRATA_STRICT_COLUMN_ORDER", "compare column order too (--strict-column-order)"],
  ["STRATA_BACKUP_DIR", "backup folder (--out of backup/restore/deploy)"],
  ["NO_COLOR", "set to anything: no colour codes"],
];

const EXAMPLES: ReadonlyArray<[string, string]> = [
  ["apply every pending migration", "strata up --url calendar_app.db"],
  ["what is applied and pending", "strata status"],
  ["revert the newest migration", "strata down"],
  ["write a migration from schema.sql", 'strata new "add specialist bio" --autogenerate'],
  ["CI / cron gate, silent when all is well", "strata check --quiet"],
];

function columns(rows: ReadonlyArray<readonly [string, string]>, indent = "  "): string[] {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${indent}${a.padEnd(width)}  ${b}`.trimEnd());
}

function optionName(topic: HelpTopic): string {
  return topic.usage.split(/[ ,]/)[0]!;
}

function describe(topic: HelpTopic): string {
  // cmd-ts marks every optional() as "[optional]": noise for options, which all are.
  const defaults = topic.defaults.filter((d) => d !== "optional");
  return [topic.description, ...defaults.map((d) => `[${d}]`)].join(" ");
}

function topicRows(topics: HelpTopic[]): Array<[string, string]> {
  return topics.map((t) => [t.usage.replace(/<str>|<number>/g, (m) => (m === "<number>" ? "N" : "VALUE")), describe(t)]);
}

/** Env variables named as `[env A, B]` in the descriptions of the options shown. */
function envOf(topics: HelpTopic[]): string[] {
  const names = new Set<string>();
  for (const t of topics) for (const m of t.description.matchAll(/\[env ([A-Z0-9_, ]+)\]/g)) for (const n of m[1]!.split(/,\s*/)) names.add(n);
  return [...names];
}

export function formatCommand(data: CommandHelpData): string {
  const name = data.path.length > 0 ? data.path.join(" ") : data.name;
  const args = data.helpTopics.filter((t) => t.category === "arguments");
  const options = data.helpTopics.filter((t) => t.category !== "arguments" && optionName(t) !== "--help");
  const own = options.filter((t) => !SHARED_OPTION_NAMES.has(optionName(t)));
  const shared = options.filter((t) => SHARED_OPTION_NAMES.has(optionName(t)));
  const usageArgs = args.map((t) => t.usage.replace(/^<(.*)>$/, "$1").replace(/^\[(.*)\]$/, "[$1]")).join(" ");
  const lines = [`Usage: ${name}${usageArgs ? " " + usageArgs : ""} [options]`, ""];
  if (data.description) lines.push(data.description, "");
  if (data.aliases?.length) lines.push(`Aliases: ${data.aliases.join(", ")}`, "");
  if (args.length) lines.push("Arguments:", ...columns(topicRows(args).map(([u, d]) => [u.replace(/^<(.*)>$/, "$1"), d] as [string, string])), "");
  if (own.length) lines.push("Options:", ...columns(topicRows(own)), "");
  if (shared.length) lines.push("Shared options:", ...columns([...topicRows(shared), ["--help, -h", "show this help"]]), "");
  const env = envOf(options);
  if (env.length) lines.push(`Environment: ${env.join(", ")}, NO_COLOR (flags win over the environment, which wins over strata.toml)`, "");
  if (data.examples?.length) lines.push("Examples:", ...data.examples.flatMap((e) => [`  # ${e.description}`, `  ${e.command}`]), "");
  lines.push("Exit codes: 0 ok, 1 failure, 2 usage, 4 unreachable, 5 lock timeout, 130/143 interrupted (all: strata help)");
  return lines.join("\n") + "\n";
}

export function formatSubcommands(data: SubcommandsHelpData): string {
  const name = data.path.length > 0 ? data.path.join(" ") : data.name;
  const verbRows: Array<[string, string]> = data.commands.map((c) => [c.name, `${c.description ?? ""}${c.aliases?.length ? ` (alias ${c.aliases.join(", ")})` : ""}`]);
  if (data.path.length > 1) {
    const verbs = columns(verbRows);
    return [`Usage: ${name} <command> [options]`, "", ...(data.description ? [data.description, ""] : []), "Commands:", ...verbs, "", `Run \`${name} <command> --help\` for a command's options.`, ""].join("\n");
  }
  const global = Object.values(commonArgs).flatMap((a) => a.helpTopics());
  return [
    `Usage: ${name} <command> [options]`,
    "",
    `${data.description ?? ""}${data.version ? ` — ${data.version}` : ""}`,
    "",
    "Commands:",
    ...columns([...verbRows, ["help [COMMAND]", "this help, or a command's"], ["version, -V", "version, commit, build target"]]),
    "",
    "Global options (every command on a database):",
    ...columns(topicRows(global)),
    "",
    "Environment:",
    ...columns(ENVIRONMENT),
    "",
    "Exit codes:",
    ...columns(EXIT_CODES.map(([c, m]) => [String(c), m])),
    "",
    "Examples:",
    ...EXAMPLES.flatMap(([what, cmd]) => [`  # ${what}`, `  ${cmd}`]),
    "",
    `Run \`${name} help <command>\` (or \`${name} <command> --help\`) for a command's options.`,
    "",
  ].join("\n");
}

export const helpFormatter: HelpFormatter = {
  formatCommand: (data) => formatCommand(data),
  formatSubcommands: (data) => formatSubcommands(data),
};
