/**
 * `strata lint [RANGE]`: static checks of migrations before they reach production. Each
 * migration runs on a scratch in-memory schema (never the database): the statements it executes
 * and the schema before and after feed the rules (src/lint/rules.ts); then its down runs in a
 * transaction that is rolled back, and must give back exactly the schema before.
 */
import fs from "node:fs";
import { StrataError } from "../errors.ts";
import { assertGivenPathExists, resolveSettings } from "../config/settings.ts";
import { setMigrationTimeout } from "../script/ts-runner.ts";
import { openDatabase } from "../db/connection.ts";
import { compareSchemas, introspect, quoteIdent, summarize, type Schema } from "../autogenerate/index.ts";
import { discoverMigrations, type MigrationFile } from "../script/discover.ts";
import { splitSql } from "../script/sql-split.ts";
import { reconcile, resolveRevision } from "../runtime/plan.ts";
import { runOnScratch } from "../lint/scratch.ts";
import { analyse } from "../lint/rules.ts";
import { applyDirectives, finding, readDirectives, type Finding } from "../lint/findings.ts";
import { withSession, type CommandOptions } from "./context.ts";

export interface LintOptions extends CommandOptions {
  /** `A..B` (after A, up to B), `A..`, `..B`, or one REV. */
  range?: string | undefined;
  all?: boolean | undefined;
  /** Lint the migrations newer than REV (a branch's additions in CI). */
  base?: string | undefined;
}

export interface LintResult {
  ok: boolean;
  /** Which migrations were selected: pending (the database's), all, base, range. */
  selection: "pending" | "all" | "base" | "range";
  database: string | null;
  migrations: { version: string; name: string }[];
  findings: Finding[];
  errors: number;
  warnings: number;
  suppressed: number;
}

export async function lint(options: LintOptions): Promise<LintResult> {
  const given = [options.range !== undefined, options.all === true, options.base !== undefined].filter(Boolean).length;
  if (given > 1) throw new StrataError("usage", "give at most one of RANGE, --all and --base");
  const settings = resolveSettings(options);
  assertGivenPathExists(settings, "dir");
  // Linting runs each migration on a scratch database: a hanging TS one is stopped as in `up`.
  setMigrationTimeout(settings.migrationTimeout);
  const files = discoverMigrations(settings.dir);
  const { selection, selected, database } = await select(options, files);
  const findings: Finding[] = [];
  const last = Math.max(-1, ...files.map((f, i) => (selected.has(f.version) ? i : -1)));
  const scratch = await openDatabase(":memory:", { create: true });
  try {
    let before: Schema = await introspect(scratch.client);
    for (const m of files.slice(0, last + 1)) {
      if (!selected.has(m.version)) {
        const run = await runOnScratch(scratch.client, m, "up", true);
        if (run.error) {
          throw new StrataError("migrations", `${m.version}_${m.name} (before the linted ones) fails on an empty schema: ${run.error.message}`, { file: run.error.file, line: run.error.line, hint: "lint it too: strata lint --all" });
        }
        before = run.after!;
        continue;
      }
      const { found, after } = await lintOne(scratch.client, m, before);
      findings.push(...found);
      if (!after) break; // the up failed: what follows would be linted against a wrong schema
      before = after;
    }
  } finally {
    scratch.close();
  }
  const counted = findings.filter((f) => !f.suppressed);
  const errors = counted.filter((f) => f.severity === "error").length;
  return {
    ok: errors === 0,
    selection,
    database,
    migrations: files.filter((f) => selected.has(f.version)).map((f) => ({ version: f.version, name: f.name })),
    findings,
    errors,
    warnings: counted.length - errors,
    suppressed: findings.length - counted.length,
  };
}

async function lintOne(client: Parameters<typeof runOnScratch>[0], m: MigrationFile, before: Schema): Promise<{ found: Finding[]; after: Schema | undefined }> {
  const { directives, problems } = readDirectives([...new Set([m.upPath, m.downPath].filter((f): f is string => f !== undefined))], m.version);
  const up = await runOnScratch(client, m, "up", true);
  if (up.error || !up.after) {
    return { found: [...problems, finding("migration.fails", m.version, up.error!, `up fails on the schema before it: ${up.error!.message}`)], after: undefined };
  }
  const found = analyse({ version: m.version, file: m.upPath, before, after: up.after, statements: up.statements });
  const destructive = found.some((f) => f.category === "destructive");
  if (!hasDown(m)) {
    if (destructive) {
      const what = m.kind === "sql" ? `${m.version}_${m.name}.down.sql is ${m.downPath ? "empty" : "missing"}` : `${m.version}_${m.name}.ts exports no down`;
      found.push(finding("reversibility.missing-down", m.version, { file: m.upPath, line: 1 }, `${what} while the up is destructive`));
    }
  } else {
    const down = await runOnScratch(client, m, "down", false); // rolled back: the scratch stays after the up
    if (down.error || !down.after) {
      found.push(finding("reversibility.down-fails", m.version, down.error!, `down fails right after the up: ${down.error!.message}`));
    } else {
      const differences = schemaDifferences(before, down.after);
      if (differences.length > 0) {
        const at = { file: m.downPath ?? m.upPath, line: 1 };
        found.push(finding("reversibility.not-exact", m.version, at, `up then down does not give back the schema before: ${differences.slice(0, 3).join("; ")}${differences.length > 3 ? `; … (${differences.length} in all)` : ""}`));
      }
    }
  }
  return { found: [...problems, ...applyDirectives(found, directives)], after: up.after };
}

/** A down that runs something: a TS `down` export, or a .down.sql with statements. */
function hasDown(m: MigrationFile): boolean {
  if (!m.downPath) return false;
  if (m.kind === "ts") return true;
  return splitSql(fs.readFileSync(m.downPath, "utf8")).statements.length > 0;
}

/** What differs between two schemas, including column order (the diff may not compare it). */
export function schemaDifferences(expected: Schema, actual: Schema): string[] {
  const lines = summarize(compareSchemas(expected, actual));
  for (const t of expected.tables) {
    const other = actual.tables.find((x) => x.name.toLowerCase() === t.name.toLowerCase());
    const order = (cs: { name: string }[]) => cs.map((c) => c.name.toLowerCase()).join(", ");
    if (other && order(t.columns) !== order(other.columns) && lines.length === 0) {
      lines.push(`column order of ${quoteIdent(t.name)}: ${order(t.columns)} → ${order(other.columns)}`);
    }
  }
  return lines;
}

async function select(options: LintOptions, files: MigrationFile[]): Promise<{ selection: LintResult["selection"]; selected: Set<string>; database: string | null }> {
  const offline = reconcile(files, []);
  const versions = (from: number, to: number) => new Set(files.slice(from, to + 1).map((f) => f.version));
  if (options.all) return { selection: "all", selected: versions(0, files.length - 1), database: null };
  if (options.base !== undefined) return { selection: "base", selected: versions(resolveRevision(options.base, offline) + 1, files.length - 1), database: null };
  if (options.range !== undefined) {
    const m = /^(.*?)\.\.(.*)$/.exec(options.range.trim());
    if (!m) {
      const at = resolveRevision(options.range, offline);
      if (at < 0) throw new StrataError("usage", `RANGE "${options.range}" names no migration`, { hint: "give a version, A..B, A.. or ..B" });
      return { selection: "range", selected: versions(at, at), database: null };
    }
    const from = m[1] ? resolveRevision(m[1], offline) + 1 : 0;
    const to = m[2] ? resolveRevision(m[2], offline) : files.length - 1;
    return { selection: "range", selected: versions(from, to), database: null };
  }
  if (!resolveSettings(options).url) {
    throw new StrataError("config", "lint needs the database to know which migrations are pending", {
      hint: "give --url (or DATABASE_URL), or lint offline with --all, --base REV or a RANGE",
    });
  }
  return withSession(options, { write: false }, async (s) => {
    const entries = reconcile(s.files, (await s.engine.readState()).applied);
    return { selection: "pending", selected: new Set(entries.filter((e) => e.state === "pending").map((e) => e.version)), database: s.db.displayUrl };
  });
}
