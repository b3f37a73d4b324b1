/** Parses argv, runs the verb and returns the exit code. */
import process from "node:process";
import { runSafely } from "cmd-ts";
import { buildCli } from "./commands.ts";
import { ExitCode } from "../errors.ts";

/** Verbs whose REV may be written Alembic-style as a bare `-1` / `+2`, which parsers take for flags. */
const REV_VERBS = new Set(["up", "upgrade", "down", "downgrade", "stamp"]);

export function normalizeArgv(argv: string[]): string[] {
  if (argv[0] === "fleet" && (argv[1] === "up" || argv[1] === "down")) return [argv[0], ...normalizeArgv(argv.slice(1))];
  if (!REV_VERBS.has(argv[0] ?? "")) return argv;
  return argv.map((arg, i) => (i > 0 && /^[+-]\d+$/.test(arg) && argv[i - 1] !== "--step" ? `--to=${arg}` : arg));
}

export async function main(argv: string[]): Promise<number> {
  const args = normalizeArgv(argv);
  // `stamp -1`: stamp takes its REV positionally; pass it back as one.
  if (args[0] === "stamp") {
    const i = args.findIndex((a) => a.startsWith("--to="));
    if (i > 0) args.splice(i, 1, args[i]!.slice(5));
  }
  const result = await runSafely(buildCli(), args);
  if (result._tag === "error") {
    const exit = result.error.config;
    const stream = exit.into === "stdout" ? process.stdout : process.stderr;
    stream.write(exit.message.endsWith("\n") ? exit.message : exit.message + "\n");
    // cmd-ts reports usage errors as 1; strata documents 2 for them.
    return exit.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
}

