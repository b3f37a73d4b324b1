/** Parses argv, runs the verb and returns the exit code. */
import process from "node:process";
import { runSafely, setDefaultHelpFormatter } from "cmd-ts";
import { buildCli } from "./commands.ts";
import { ExitCode, StrataError } from "../errors.ts";
import { helpFormatter } from "./help.ts";
import { reportError } from "./verb.ts";
import { Logger } from "../output/logger.ts";

/** Verbs whose REV may be written Alembic-style as a bare `-1` / `+2`, which parsers take for flags. */
const REV_VERBS = new Set(["up", "upgrade", "down", "downgrade", "stamp"]);

/**
 * `-2` / `+1` look like flags to the parser: a bare one becomes `--to=-2` (stamp: its REV
 * positional), and `--to -2` / `--step -1` are joined into `--to=-2` / `--step=-1`.
 */
export function normalizeArgv(argv: string[]): string[] {
  if (argv[0] === "fleet" && (argv[1] === "up" || argv[1] === "down")) return [argv[0], ...normalizeArgv(argv.slice(1))];
  if (!REV_VERBS.has(argv[0] ?? "")) return argv;
  const out: string[] = [argv[0]!];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if ((arg === "--to" || arg === "--step") && next !== undefined && /^[+-]\d+$/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    } else if (/^[+-]\d+$/.test(arg)) {
      out.push(argv[0] === "stamp" ? arg : `--to=${arg}`);
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** `strata help [VERB…]`, `strata version`, `-V`: the spellings dbmate, goose and git users type. */
function rewriteMetaVerbs(argv: string[]): string[] {
  if (argv[0] === "help") return [...argv.slice(1), "--help"];
  if (argv[0] === "version" || argv[0] === "-V") return ["--version", ...argv.slice(1)];
  return argv;
}

export async function main(argv: string[]): Promise<number> {
  setDefaultHelpFormatter(helpFormatter);
  // No verb: the overview on stderr and a usage error, so a typo'd script does not pass.
  const bare = argv.length === 0;
  const args = bare ? ["--help"] : normalizeArgv(rewriteMetaVerbs(argv));
  const result = await runSafely(buildCli(), args);
  if (result._tag === "error") {
    const exit = result.error.config;
    if (exit.exitCode === 0) {
      // --help / --version
      const stream = bare ? process.stderr : process.stdout;
      stream.write(exit.message.endsWith("\n") ? exit.message : exit.message + "\n");
      return bare ? ExitCode.usage : ExitCode.ok;
    }
    return reportUsageError(args, exit.message);
  }
  return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
}

/**
 * An argument error from the parser: its own pointer at the bad token on stderr, and with
 * --json the same error object every other failure prints. cmd-ts reports them as 1; strata
 * documents 2.
 */
function reportUsageError(args: string[], parserMessage: string): number {
  const json = args.includes("--json");
  const verb = verbOf(args);
  if (!json) {
    process.stderr.write(parserMessage.endsWith("\n") ? parserMessage : parserMessage + "\n");
    return ExitCode.usage;
  }
  const err = new StrataError("usage", summarizeParserError(parserMessage), { hint: `see strata ${verb && verb !== "--json" ? verb + " " : ""}--help` });
  // The one-line error goes to stderr through the logger; the JSON object to stdout.
  return reportError(verb ?? "strata", err, { json: true, verbose: false }, new Logger());
}

/** Verbs with verbs of their own: `fleet up`, `schema dump` name the command in JSON and hints. */
const NESTED: Readonly<Record<string, readonly string[]>> = { fleet: ["up", "down", "status", "check"], schema: ["dump"] };

function verbOf(args: string[]): string | null {
  const words = args.filter((a) => !a.startsWith("-"));
  const [first, second] = words;
  if (first === undefined) return null;
  return second !== undefined && NESTED[first]?.includes(second) ? `${first} ${second}` : first;
}

/** "unknown arguments: --bogus" out of cmd-ts's boxed report (the line under the caret names the problem). */
export function summarizeParserError(message: string): string {
  const plain = message.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain.split("\n");
  const problems: string[] = [];
  lines.forEach((line, i) => {
    const caret = /^(\s*)\^+\s*(.*)$/.exec(line);
    if (caret) {
      const above = lines[i - 1] ?? "";
      const reason = caret[2]!.trim();
      const [token = "", value] = tokensFrom(above, caret[1]!.length);
      // A bad value is marked at its option: name both (`--step abc`).
      const shown = token.startsWith("--") && !token.includes("=") && value !== undefined && !/unknown/i.test(reason) ? `${token} ${value}` : token;
      problems.push(shown ? `${reason.toLowerCase()}: ${shown}` : reason);
      return;
    }
    const numbered = /^\s*\d+\.\s+(.*)$/.exec(line);
    if (numbered) problems.push(numbered[1]!.trim());
  });
  return problems.length > 0 ? problems.join("; ") : (lines.find((l) => l.trim() !== "") ?? "invalid arguments").trim();
}

/** The argument under column `col` of cmd-ts's echoed command line, and the one after it. */
function tokensFrom(line: string, col: number): string[] {
  const tokens = [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], start: m.index! }));
  const i = tokens.findIndex((t) => col >= t.start && col < t.start + t.text.length);
  return i < 0 ? [] : tokens.slice(i).map((t) => t.text);
}
