/**
 * Loading one migration step (its up or its down) into something the engine can run: the
 * statements of an SQL file, or the function exported by a TypeScript module. All validation of
 * file contents happens here, before the database is touched.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { StrataError, messageOf } from "../errors.ts";
import { findTransactionControl, splitSql, SqlSyntaxError, type SqlStatement } from "./sql-split.ts";
import type { MigrationFile } from "./discover.ts";
import { parseDuration } from "../config/duration.ts";
import { runTsMigration, type MigrationExecutor, type MigrationFn } from "./ts-runner.ts";

export type Direction = "up" | "down";

/** What a TS migration receives: the Transaction it runs in, or the Client for no-transaction ones. */
export type { MigrationExecutor, MigrationFn };

export type LoadedStep =
  | { kind: "sql"; file: string; statements: SqlStatement[]; transaction: boolean }
  | { kind: "ts"; file: string; run: MigrationFn; transaction: boolean };

const KNOWN_DIRECTIVES = new Set(["no-transaction", "empty"]);

interface TsModule {
  up?: unknown;
  down?: unknown;
  transaction?: unknown;
  timeout?: unknown;
}
const moduleCache = new Map<string, Promise<TsModule>>();

export async function loadStep(m: MigrationFile, direction: Direction): Promise<LoadedStep> {
  if (m.kind === "sql") {
    const file = direction === "up" ? m.upPath : m.downPath;
    if (!file) throw irreversible(m);
    return loadSqlFile(file);
  }
  const mod = await importModule(m.upPath);
  const fn = mod[direction];
  if (fn === undefined && direction === "down") throw irreversible(m);
  if (typeof fn !== "function") {
    throw new StrataError("migrations", `${path.basename(m.upPath)} must export an async function ${direction}(tx)`, {
      file: m.upPath,
      hint: "export async function up(tx) { await tx.execute(\"…\") }",
    });
  }
  if (mod.transaction !== undefined && typeof mod.transaction !== "boolean") {
    throw new StrataError("migrations", `export "transaction" must be a boolean`, { file: m.upPath });
  }
  const transaction = mod.transaction !== false;
  const ownTimeoutMs = moduleTimeout(mod, m.upPath);
  const options = { file: m.upPath, direction, transaction, ownTimeoutMs };
  // The engine only ever runs the guarded form (see src/script/ts-runner.ts).
  const run: MigrationFn = (tx) => runTsMigration(fn as MigrationFn, tx, options);
  return { kind: "ts", file: m.upPath, run, transaction };
}

/** `export const timeout = "10m"` (or a number of seconds); checked before anything runs. */
function moduleTimeout(mod: TsModule, file: string): number | undefined {
  if (mod.timeout === undefined) return undefined;
  if (typeof mod.timeout === "number" || typeof mod.timeout === "string") {
    try {
      const ms = parseDuration(String(mod.timeout), "timeout");
      if (ms > 0) return ms;
    } catch {
      /* reported below */
    }
  }
  throw new StrataError("migrations", `export "timeout" must be a duration like "10m", "90s" or a number of seconds`, { file });
}

function irreversible(m: MigrationFile): StrataError {
  return new StrataError("state", `migration ${m.version}_${m.name} is irreversible (it has no down)`, {
    file: m.upPath,
    hint: m.kind === "sql"
      ? `add ${m.version}_${m.name}.down.sql, or restore a backup instead of downgrading`
      : "export async function down(tx) from the module, or restore a backup instead of downgrading",
  });
}

type SqlStep = LoadedStep & { kind: "sql" };
/** Parsed SQL files by path: a step loaded for planning is not parsed again to run. */
const sqlCache = new Map<string, SqlStep>();

export function loadSqlFile(file: string): SqlStep {
  const cached = sqlCache.get(file);
  if (cached) return cached;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new StrataError("migrations", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`, { file });
  }
  const step = parseSqlFile(file, bytes);
  sqlCache.set(file, step);
  return step;
}

/** Validates and splits an SQL migration file's bytes. Throws StrataError naming file and line. */
function parseSqlFile(file: string, bytes: Buffer): SqlStep {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new StrataError("migrations", `${path.basename(file)} is not valid UTF-8 text`, {
      file,
      hint: bytes.includes(0) ? "it looks like a binary file" : "save the file as UTF-8",
    });
  }
  let split;
  try {
    split = splitSql(text);
  } catch (e) {
    if (e instanceof SqlSyntaxError) {
      throw new StrataError("migrations", `${e.message}`, { file, line: e.line, hint: "fix the SQL file; nothing was run" });
    }
    throw e;
  }
  for (const d of split.directives) {
    // lint-ignore directives are read by `strata lint` (src/lint/findings.ts).
    if (!KNOWN_DIRECTIVES.has(d) && !d.startsWith("lint-ignore")) {
      throw new StrataError("migrations", `unknown directive "-- strata:${d}"`, {
        file,
        hint: `known directives: ${[...KNOWN_DIRECTIVES].map((k) => "strata:" + k).join(", ")}`,
      });
    }
  }
  const transaction = !split.directives.has("no-transaction");
  if (split.statements.length === 0 && !split.directives.has("empty")) {
    throw new StrataError("migrations", `${path.basename(file)} has no SQL statements`, {
      file,
      hint: "an empty migration is likely a mistake; add a first line `-- strata:empty` if it is intended",
    });
  }
  if (transaction) {
    const control = findTransactionControl(split.statements);
    if (control) {
      throw new StrataError("migrations", `transaction control "${control.keyword}" in a migration strata wraps in a transaction`, {
        file,
        line: control.line,
        hint: "remove it (strata commits each migration atomically), or add `-- strata:no-transaction` as the first line",
      });
    }
  }
  return { kind: "sql", file, statements: split.statements, transaction };
}

function importModule(file: string): Promise<TsModule> {
  let p = moduleCache.get(file);
  if (!p) {
    p = importTypeScript(pathToFileURL(file).href).then(
      (mod) => mod as TsModule,
      (e: unknown) => {
        throw moduleLoadError(file, e);
      },
    );
    moduleCache.set(file, p);
  }
  return p;
}

/**
 * Deno and Bun (the compiled binary) import TypeScript natively. On Node, tsx's tsImport loads
 * the module as ESM whatever package.json (if any) sits next to the migrations folder.
 */
async function importTypeScript(url: string): Promise<unknown> {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined || g.Bun !== undefined) return import(url);
  // A computed specifier keeps bundlers from pulling tsx into the binary.
  const tsxApi = ["tsx", "esm", "api"].join("/");
  const { tsImport } = (await import(tsxApi)) as { tsImport: (url: string, parent: string) => Promise<unknown> };
  return tsImport(url, import.meta.url);
}

/** Runtimes report syntax errors differently; find the line for our file when there is one. */
function moduleLoadError(file: string, e: unknown): StrataError {
  const text = messageOf(e);
  const base = path.basename(file);
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const at = new RegExp(`${escaped}:(\\d+)(?::(\\d+))?`).exec(text + "\n" + ((e as Error)?.stack ?? ""));
  const lineFromError = (e as { line?: number }).line;
  const line = at ? Number(at[1]) : typeof lineFromError === "number" ? lineFromError : undefined;
  const detail = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^Transform failed/.test(l))
    .map((l) => l.replace(/^.*?ERROR: /, ""))[0] ?? text;
  return new StrataError("migrations", `cannot load ${base}: ${detail.replace(pathToFileURL(file).href, base).replace(file, base)}`, {
    file,
    line,
    hint: "fix the module; nothing was run",
    cause: e,
  });
}
