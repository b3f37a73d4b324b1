/**
 * What this copy of strata is: version, git commit, build target and build time.
 *
 * The compiled binary (`npm run build`) gets the real values from `build.ts`, which hands them to
 * Bun's `define` as the global `__STRATA_BUILD_INFO__`; the bundler then replaces the identifier
 * with an object literal. Running from source (tsx, Node, Deno, `bun src/main.ts`) nothing defines
 * it, so `typeof` sees `undefined` and we fall back to development values.
 */
import process from "node:process";
import pkg from "../package.json" with { type: "json" };

export interface BuildInfo {
  /** package.json version at build time. */
  version: string;
  /** Short git commit the binary was built from; "unknown" outside git, "dev" from source. */
  commit: string;
  /** Bun compile target, e.g. "bun-linux-x64"; from source, the runtime it runs on. */
  target: string;
  /** ISO-8601 build time (honours SOURCE_DATE_EPOCH); "dev" from source. */
  builtAt: string;
}

// Declared, never assigned: only the bundler's `define` gives it a value.
declare const __STRATA_BUILD_INFO__: BuildInfo | undefined;

function sourceTarget(): string {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return "deno";
  const runtime = g.Bun !== undefined ? "bun" : "node";
  return `${runtime}-${process.platform}-${process.arch}`;
}

export const buildInfo: BuildInfo =
  typeof __STRATA_BUILD_INFO__ !== "undefined"
    ? __STRATA_BUILD_INFO__
    : { version: pkg.version, commit: "dev", target: sourceTarget(), builtAt: "dev" };

/** One line for `strata --version`, e.g. `strata 0.1.0 (3f2a9c1, bun-linux-x64, built 2025-01-01T00:00:00.000Z)`. */
export function versionLine(info: BuildInfo = buildInfo): string {
  const built = info.builtAt === "dev" ? "from source" : `built ${info.builtAt}`;
  return `strata ${info.version} (${info.commit}, ${info.target}, ${built})`;
}
