/**
 * Running a TypeScript migration so that it cannot break the promise strata makes for it: the
 * migration and its version row commit together, or nothing does. It lives in script/ because
 * loading a TS migration wraps it in this guard, so every caller (the engine, lint's scratch
 * run) can only ever run the guarded form.
 *
 * - It gets a guarded handle: commit/rollback/close and any transaction-control statement
 *   (the same classifier SQL files go through) are refused, naming file:line, before they run.
 * - A SAVEPOINT set before `up()` must still be there afterwards: proof that the transaction
 *   the version row goes into is the one strata opened.
 * - `process.exit` (and `Deno.exit`), an unhandled rejection or an uncaught exception while it
 *   runs, and a run longer than its timeout, fail the migration instead of ending strata.
 */
import path from "node:path";
import process from "node:process";
import type { Client, InStatement, Transaction } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { transactionControlIn } from "./sql-split.ts";
import { migrationHelpers, type MigrationHelpers } from "./batch.ts";

export type MigrationExecutor = Transaction | Client;
export type MigrationFn = (tx: MigrationExecutor) => Promise<void> | void;
/** A migration module's up()/down(): the guarded handle, and helpers that work through it. */
export type MigrationModuleFn = (tx: MigrationExecutor, helpers: MigrationHelpers) => Promise<void> | void;

export interface TsRunOptions {
  file: string;
  direction: "up" | "down";
  /** The executor is strata's transaction (guarded), not the client of a no-transaction migration. */
  transaction: boolean;
  /** The migration's own `export const timeout` in milliseconds, if any. */
  ownTimeoutMs: number | undefined;
}


const SAVEPOINT = "strata_migration";
export const SET_SAVEPOINT = `SAVEPOINT ${SAVEPOINT}`;
export const RELEASE_SAVEPOINT = `RELEASE ${SAVEPOINT}`;

/**
 * Marks a transaction whose owner (the engine) sends SET_SAVEPOINT at the end of the batch that
 * opens it and RELEASE_SAVEPOINT first in the batch that writes the version row, so the check
 * costs no round trip of its own; runTsMigration then leaves both to it.
 */
const CALLER_HOLDS_SAVEPOINT = Symbol("strata.callerHoldsSavepoint");
export function callerHoldsSavepoint(tx: Transaction): void {
  Object.defineProperty(tx, CALLER_HOLDS_SAVEPOINT, { value: true });
}

/**
 * The run's timeout setting, set once per command from its settings: milliseconds for
 * migrations without their own `export const timeout`, or "none" (--no-timeout) for all.
 */
let timeoutSetting: number | "none" = 15 * 60_000; // DEFAULTS.migrationTimeout, for library callers
export function setMigrationTimeout(setting: number | "none"): void {
  timeoutSetting = setting;
}
/** The timeout for a migration that exports `own` (ms), under the run's setting. */
export function effectiveTimeout(own: number | undefined): number | undefined {
  if (timeoutSetting === "none") return undefined;
  return own ?? timeoutSetting;
}

let ranAny = false;

/**
 * Whether TS migration code ran in this process. Its timers or sockets may outlive it (a
 * forgotten setInterval, or code still pending after a timeout), so the entry point exits
 * explicitly instead of waiting for the event loop to drain.
 */
export function tsMigrationCodeRan(): boolean {
  return ranAny;
}

/** Runs one TS migration step under the guards above. Throws StrataError on any failure. */
export async function runTsMigration(fn: MigrationModuleFn, executor: MigrationExecutor, options: TsRunOptions): Promise<void> {
  ranAny = true;
  const base = path.basename(options.file);
  const what = `${options.direction}() of ${base}`;
  let fail!: (e: StrataError) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  let refusal: StrataError | undefined;
  const guard = guardExecutor(executor, options, (e) => {
    refusal ??= e;
    fail(e);
  });

  const restore = interceptEscapes(what, options.file, fail);
  const timeoutMs = effectiveTimeout(options.ownTimeoutMs);
  const timer = timeoutMs === undefined
    ? setInterval(() => undefined, 1 << 30) // keeps the event loop alive: a hang stays a hang, never a silent exit 0
    : setTimeout(() => fail(timeoutError(what, options.file, timeoutMs)), timeoutMs);
  const ownSavepoint = options.transaction && (executor as unknown as Record<symbol, unknown>)[CALLER_HOLDS_SAVEPOINT] !== true;
  try {
    if (ownSavepoint) await (executor as Transaction).execute(SET_SAVEPOINT);
    await Promise.race([Promise.resolve().then(() => fn(guard.handle, migrationHelpers(guard.handle))), failed]);
    // A refused call the migration caught and ignored still fails it.
    if (refusal) throw refusal;
    if (ownSavepoint) await verifyTransaction(executor as Transaction, what, options.file);
  } catch (e) {
    // Its code may still be running (a timeout, an escape): from now on its late errors are noise.
    installLateErrorSink();
    throw e; // statement errors stay raw: the engine classifies them (foreign keys, line numbers)
  } finally {
    guard.revoke();
    clearTimeout(timer);
    clearInterval(timer);
    restore();
  }
}

/** The savepoint set before the migration must still exist: RELEASE fails if the transaction ended. */
async function verifyTransaction(tx: Transaction, what: string, file: string): Promise<void> {
  try {
    await tx.execute(RELEASE_SAVEPOINT);
  } catch (e) {
    throw transactionEndedError(what, file, e);
  }
}

/** RELEASE_SAVEPOINT failed: the migration ended strata's transaction. `what`: "up() of FILE". */
export function transactionEndedError(what: string, file: string, cause: unknown): StrataError {
  return new StrataError("sql", `${what} ended the transaction strata opened for it; its version row was not written`, {
    file,
    hint: "remove the transaction control from the migration (strata commits it atomically), or export const transaction = false",
    cause,
  });
}

function timeoutError(what: string, file: string, ms: number): StrataError {
  return new StrataError("sql", `${what} did not finish within ${describeMs(ms)}; the migration was rolled back`, {
    file,
    hint: "a promise that never settles or a forgotten timer? Fix it, or raise `export const timeout = \"30m\"` / --migration-timeout (--no-timeout for none)",
  });
}

type Statementish = InStatement | [string, unknown?];

function sqlOf(s: Statementish): string {
  if (typeof s === "string") return s;
  if (Array.isArray(s)) return String(s[0]);
  return s.sql;
}

/** The line of the migration file that made the current call, from the stack. */
function callerLine(file: string): number | undefined {
  const base = path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const at = new RegExp(`${base}:(\\d+)`).exec(new Error().stack ?? "");
  return at ? Number(at[1]) : undefined;
}

/**
 * A handle that forwards to `executor` but refuses whatever would end strata's transaction
 * (or close strata's client), and refuses everything once the migration is over.
 */
function guardExecutor(executor: MigrationExecutor, options: TsRunOptions, onRefusal: (e: StrataError) => void) {
  let over = false;
  const base = path.basename(options.file);
  const refuse = (what: string, hint: string): never => {
    const e = new StrataError("migrations", `${what} in ${options.direction}() of ${base}: refused, nothing of it ran`, {
      file: options.file,
      line: callerLine(options.file),
      hint,
    });
    onRefusal(e);
    throw e;
  };
  const controlHint = options.transaction
    ? "strata commits each migration with its version row; remove it, or export const transaction = false"
    : "strata's connection stays open for the rest of the run";
  const check = (stmts: Statementish[]) => {
    if (over) refuse("a statement after the migration ended", "await every statement inside up()/down()");
    if (!options.transaction) return;
    for (const s of stmts) {
      const control = transactionControlIn(sqlOf(s));
      if (control) refuse(`transaction control "${control.keyword}"`, controlHint);
    }
  };
  const target = executor as unknown as Record<string | symbol, unknown>;
  const wrapped: Record<string, unknown> = {
    execute: async (stmt: InStatement, args?: unknown) => {
      check([stmt]);
      return (executor.execute as (s: unknown, a?: unknown) => Promise<unknown>).call(executor, stmt, args);
    },
    batch: async (stmts: Statementish[], mode?: unknown) => {
      check(Array.isArray(stmts) ? stmts : []);
      return (executor.batch as (s: unknown, m?: unknown) => Promise<unknown>).call(executor, stmts, mode);
    },
    executeMultiple: async (sql: string) => {
      check([sql]);
      return executor.executeMultiple(sql);
    },
    close: () => refuse("close()", controlHint),
  };
  if (options.transaction) {
    wrapped.commit = async () => refuse("commit()", controlHint);
    wrapped.rollback = async () => refuse("rollback()", "throw an error instead: strata rolls the migration back");
  }
  const handle = new Proxy(target, {
    get(t, key) {
      if (typeof key === "string" && key in wrapped) return wrapped[key];
      const v = Reflect.get(t, key, t);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as unknown as MigrationExecutor;
  return { handle, revoke: () => void (over = true) };
}

/**
 * While a migration runs: `process.exit`/`Deno.exit` throw (so the code after them does not
 * run) and fail the migration; unhandled rejections and uncaught exceptions fail it too. The
 * listeners stay installed after a failure, so late errors from abandoned migration code
 * cannot crash strata while it rolls back and reports.
 */
function interceptEscapes(what: string, file: string, fail: (e: StrataError) => void): () => void {
  const realExit = process.exit;
  const exitError = (code: unknown) =>
    new StrataError("sql", `${what} called process.exit(${code === undefined ? "" : String(code)}); the migration was rolled back`, {
      file,
      line: callerLine(file),
      hint: "throw an error instead of exiting: strata rolls back, reports and exits non-zero",
    });
  const onExit = (code?: unknown): never => {
    const e = exitError(code);
    fail(e);
    throw e;
  };
  process.exit = onExit as typeof process.exit;
  const deno = (globalThis as { Deno?: { exit?: unknown } }).Deno;
  const realDenoExit = deno?.exit;
  try {
    if (deno) deno.exit = onExit;
  } catch {
    /* read-only in some Deno versions: process.exit is the common path */
  }
  const onError = (e: unknown) => {
    if (active) {
      fail(
        e instanceof StrataError
          ? e
          : new StrataError("sql", `${what} failed: ${messageOf(e)} (unhandled, outside the awaited code); the migration was rolled back`, {
              file,
              hint: "await every promise the migration starts",
              cause: e,
            }),
      );
    }
  };
  let active = true;
  process.on("unhandledRejection", onError);
  process.on("uncaughtException", onError);
  return () => {
    active = false;
    process.exit = realExit;
    try {
      if (deno) deno.exit = realDenoExit;
    } catch {
      /* see above */
    }
    process.off("unhandledRejection", onError);
    process.off("uncaughtException", onError);
  };
}

let sinkInstalled = false;
/**
 * After a failed migration its code may still run (pending timers, promises): its errors must
 * not crash strata while it rolls back and reports. Installed only then; strata exits non-zero.
 */
function installLateErrorSink(): void {
  if (sinkInstalled) return;
  sinkInstalled = true;
  const sink = () => undefined;
  process.on("unhandledRejection", sink);
  process.on("uncaughtException", sink);
}

function describeMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
