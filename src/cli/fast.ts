/**
 * The start-up fast path for `up` and `status`, run without cmd-ts (whose `debug` and `chalk`
 * load node:tty) and its module graph of every verb.
 *
 * A no-op `up` and `status` on a local file are answered from a read-only look at it (bun:sqlite in the
 * binary, no @libsql/client, no Node stdio streams), with the normal path's own pieces (settings
 * resolution, discovery, reconcile, the status builder and the renderers). Any other `up` the
 * small parser below understands — pending migrations, a missing file, a remote URL, any
 * problem — runs the up verb itself (./migrate-verbs.ts, what ./commands.ts runs too), so it
 * applies, reports and exits exactly as through the full CLI. Anything else (another verb or
 * option, `status` with something to say about a lock, any error while looking) returns
 * undefined before anything is printed, and ./run.ts handles the command as it always did.
 */
import fs from "node:fs";
import process from "node:process";
import { assertGivenPathExists, resolveSettings, type FlagValues } from "../config/settings.ts";
import { discoverMigrations } from "../script/discover.ts";
import { localPathOf } from "../db/local-path.ts";
import { readLocal } from "../db/read-only.ts";
import { Store, type AppliedRow } from "../runtime/store.ts";
import { blockingProblems, currentVersion, reconcile } from "../runtime/plan.ts";
import { statusExitCode, statusOf } from "../commands/status-view.ts";
import type { MigrateResult } from "../commands/migrate.ts";
import { Logger } from "../output/logger.ts";
import { redactUrl } from "../output/redact.ts";
import { renderMigrate, renderStatus } from "./render.ts";
import { printResult } from "./print.ts";

/** Options that take a value and cannot change what a no-op `up` or `status` answers. */
const VALUE_OPTIONS: Record<string, "url" | "dir" | "table" | "config" | "lockTimeout" | "migrationTimeout" | "authToken" | "authTokenFile"> = {
  "--url": "url",
  "--dir": "dir",
  "--table": "table",
  "--config": "config",
  "--lock-timeout": "lockTimeout",
  "--migration-timeout": "migrationTimeout",
  "--auth-token": "authToken",
  "--auth-token-file": "authTokenFile",
};

export interface FastArgs {
  verb: "up" | "status";
  flags: FlagValues;
  json: boolean;
  quiet: boolean;
  exitCode: boolean;
}

/** The command line, when it is one the fast path takes; anything unusual is left to cmd-ts. */
export function parseFastArgs(argv: string[]): FastArgs | undefined {
  const verb = argv[0] === "up" || argv[0] === "upgrade" ? "up" : argv[0] === "status" ? "status" : undefined;
  if (verb === undefined) return undefined;
  const a: FastArgs = { verb, flags: {}, json: false, quiet: false, exitCode: false };
  const seen = new Set<string>();
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    // A repeated option is for cmd-ts to judge.
    if (seen.has(name === "-q" ? "--quiet" : name)) return undefined;
    seen.add(name === "-q" ? "--quiet" : name);
    const key = VALUE_OPTIONS[name];
    if (key !== undefined) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "" || value.startsWith("-")) return undefined;
      a.flags[key] = value;
    } else if (arg === "--json") a.json = true;
    else if (arg === "--quiet" || arg === "-q") a.quiet = true;
    else if (arg === "--exit-code" && verb === "status") a.exitCode = true;
    else return undefined;
  }
  return a;
}

/** The exit code when the fast path answered the command, undefined when ./run.ts must. */
export async function fastPath(argv: string[]): Promise<number | undefined> {
  // STRATA_FAST_PATH=off: always the full CLI (to compare the two, or to rule this one out).
  if (process.env["STRATA_FAST_PATH"] === "off") return undefined;
  const args = parseFastArgs(argv);
  if (args === undefined) return undefined;
  let code: number | undefined;
  try {
    code = await answer(args);
  } catch {
    code = undefined; // the normal path meets the same problem and reports it properly
  }
  if (code !== undefined || args.verb === "status") return code;
  // Outside the try: once it has started, the run reports its own errors and must never run twice.
  const { runUp } = await import("./migrate-verbs.ts");
  await runUp({
    ...args.flags,
    json: args.json,
    quiet: args.quiet,
    verbose: false,
    to: undefined,
    rev: undefined,
    step: undefined,
    dryRun: false,
    singleTransaction: false,
    dumpSchema: undefined,
    allowOutOfOrder: false,
  });
  return Number(process.exitCode ?? 0);
}

async function answer(a: FastArgs): Promise<number | undefined> {
  const settings = resolveSettings(a.flags);
  const url = settings.url;
  const file = url === undefined || url.includes("?") ? undefined : localPathOf(url);
  // Only an existing file: `up` would create a missing one, `status` says it does not exist.
  if (url === undefined || file === undefined || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return undefined;
  assertGivenPathExists(settings, "dir");
  const files = discoverMigrations(settings.dir);
  const store = new Store(settings.table);
  const [appliedRows, lockRows] = await readLocal(url, file, [store.selectApplied() as string, store.selectLock() as string], Math.max(settings.lockTimeoutMs, 1000));
  // selectApplied() yields AppliedRow's columns and types: the rows serve as they are.
  const applied = appliedRows as unknown as AppliedRow[];
  const database = redactUrl(url);

  if (a.verb === "status") {
    // Whether a lock is stale asks the engine (is its process alive?): the normal path says.
    if (lockRows!.length > 0) return undefined;
    const result = statusOf(database, true, files, applied, null);
    const code = statusExitCode(result, a.exitCode);
    printResult("status", a, result, renderStatus, code);
    return code;
  }

  // `up`: answered here only when there is nothing to apply and nothing that forbids the run (as
  // the up verb's local plan, which takes no lock and writes nothing either). The lock row is
  // only read so that a version table without strata's lock table is left to the up verb.
  const entries = reconcile(files, applied);
  if (blockingProblems(entries) !== undefined) return undefined;
  for (let i = 0; i < entries.length; i++) if (entries[i]!.state === "pending") return undefined;
  const at = currentVersion(entries) ?? null;
  new Logger({ quiet: a.quiet }).info(`nothing to do; database is at ${at ?? "base"}`);
  const result: MigrateResult = { command: "up", database, dryRun: false, from: at, to: at, plan: [], steps: [], waitedForLock: false };
  printResult("up", a, result, renderMigrate, 0);
  return 0;
}
