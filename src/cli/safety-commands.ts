/**
 * Safety before production on the command line: lint and rehearse. Thin wrappers over
 * src/commands/{lint,rehearse}.ts, wired into buildCli() by src/cli/commands.ts.
 */
import { command, flag, oneOf, option, optional, positional, string } from "cmd-ts";
import { ExitCode } from "../errors.ts";
import { commonArgs } from "./common.ts";
import { commandOptions, runVerb } from "./verb.ts";
import { renderLint, renderLintGithub, renderRehearse } from "./safety-render.ts";

export const lint = command({
  name: "lint",
  description: "Check migrations for destructive, backward-incompatible, data-dependent and costly changes, and that each down undoes its up (default: the pending ones)",
  examples: [
    { description: "in CI: the migrations newer than the main branch's head", command: "strata lint --base 20240301090000 --format github" },
    { description: "what production would run", command: "strata lint --url calendar_app.db" },
  ],
  args: {
    ...commonArgs,
    range: positional({ type: optional(string), displayName: "RANGE", description: "REV (one migration), A..B (after A up to B), A.. or ..B; works without a database" }),
    all: flag({ long: "all", description: "lint every migration (no database needed)" }),
    base: option({ type: optional(string), long: "base", description: "lint the migrations newer than REV, e.g. the main branch's head (no database needed)" }),
    format: option({ type: optional(oneOf(["text", "json", "github"])), long: "format", description: "text (default), json (same as --json) or github (workflow annotations)" }),
  },
  handler: (a) =>
    runVerb("lint", { ...a, json: a.json || a.format === "json" }, async (logger) => {
      const { lint } = await import("../commands/lint.ts");
      return lint({ ...commandOptions(a, logger), range: a.range, all: a.all, base: a.base });
    }, (r) => (a.format === "github" ? renderLintGithub(r) : renderLint(r)), (r) => (r.ok ? ExitCode.ok : ExitCode.failure)),
});

export const rehearse = command({
  name: "rehearse",
  description: "Try the pending migrations on a copy of the database (never the original): apply, check integrity, revert with the downs, apply again, and report times, rows and rebuilds",
  examples: [
    { description: "before a deploy", command: "strata rehearse --url calendar_app.db" },
  ],
  args: {
    ...commonArgs,
    keepCopy: option({ type: optional(string), long: "keep-copy", description: "keep the rehearsed copy in this folder (default: a temporary folder, removed)" }),
  },
  handler: (a) =>
    runVerb("rehearse", a, async (logger) => {
      const { rehearse } = await import("../commands/rehearse.ts");
      return rehearse({ ...commandOptions(a, logger), keepCopy: a.keepCopy });
    }, renderRehearse, (r) => (r.ok ? ExitCode.ok : ExitCode.failure)),
});
