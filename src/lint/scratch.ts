/**
 * Running one migration step on a scratch in-memory schema, recording every statement it
 * executes (SQL files: their statements with lines; TS modules: what they send through `tx`).
 * Lint analyses those statements and the schema before and after; nothing here touches a
 * user's database.
 */
import fs from "node:fs";
import type { Client, InStatement, Transaction } from "@libsql/client";
import { introspect, type Schema } from "../autogenerate/index.ts";
import { sqliteMessage } from "../db/errors.ts";
import { StrataError, messageOf } from "../errors.ts";
import type { MigrationFile } from "../script/discover.ts";
import { loadStep, type Direction, type MigrationExecutor } from "../script/load.ts";
import { splitSql } from "../script/sql-split.ts";

export interface ExecutedStatement {
  sql: string;
  file: string;
  /** 1-based line in `file` (for TS: where the statement's text is written, else the function). */
  line: number;
}

export interface ScratchRun {
  statements: ExecutedStatement[];
  /** Schema inside the step's transaction, after its last statement (undefined when it failed). */
  after: Schema | undefined;
  /** Why the step failed: SQLite's message and where (the statement, or the file's own error). */
  error: { message: string; file: string; line: number } | undefined;
}

/** SQLite refuses these inside a transaction; on an empty scratch schema they change nothing. */
const SCRATCH_SKIPPED = /^\s*VACUUM\b/i;

/**
 * Runs `direction` of `m` in a transaction on `client` (foreign keys off, as the engine runs
 * it), reads the schema it leaves, then commits (`keep`) or rolls back.
 */
export async function runOnScratch(client: Client, m: MigrationFile, direction: Direction, keep: boolean): Promise<ScratchRun> {
  let step;
  try {
    step = await loadStep(m, direction);
  } catch (e) {
    const file = e instanceof StrataError && e.file ? e.file : m.upPath;
    return { statements: [], after: undefined, error: { message: messageOf(e), file, line: (e as StrataError).line ?? 1 } };
  }
  const statements: ExecutedStatement[] = [];
  await client.execute("PRAGMA foreign_keys = OFF");
  const tx = await client.transaction("write");
  let failed: ScratchRun["error"];
  let after: Schema | undefined;
  try {
    try {
      if (step.kind === "sql") {
        for (const st of step.statements) {
          const executed = { sql: st.sql, file: step.file, line: st.line };
          statements.push(executed);
          if (!SCRATCH_SKIPPED.test(st.sql)) await tx.execute(st.sql);
        }
      } else {
        const locate = tsLocator(step.file, direction);
        await step.run(recordingExecutor(tx, (sql) => statements.push({ sql, file: step.file, line: locate(sql) })));
      }
      after = await introspect(tx as unknown as Pick<Client, "execute">);
    } catch (e) {
      const last = statements.at(-1);
      failed = { message: step.kind === "sql" ? sqliteMessage(e) : messageOf(e), file: last?.file ?? step.file, line: last?.line ?? 1 };
    }
    if (keep && !failed) await tx.commit();
    else await tx.rollback();
  } finally {
    tx.close();
  }
  return { statements, after, error: failed };
}

/**
 * A Transaction that records each statement before sending it. Only execute, batch and
 * executeMultiple carry SQL; everything else is the transaction itself.
 */
function recordingExecutor(tx: Transaction, record: (sql: string) => void): MigrationExecutor {
  const text = (s: InStatement) => (typeof s === "string" ? s : s.sql);
  return new Proxy(tx, {
    get(target, prop) {
      if (prop === "execute") {
        return (stmt: InStatement | string, args?: unknown) => {
          record(text(stmt));
          return args === undefined ? target.execute(stmt) : target.execute({ sql: stmt as string, args: args as never });
        };
      }
      if (prop === "batch") {
        return (stmts: InStatement[]) => {
          stmts.forEach((s) => record(text(s)));
          return target.batch(stmts);
        };
      }
      if (prop === "executeMultiple") {
        return (sql: string) => {
          for (const st of splitSql(sql).statements) record(st.sql);
          return target.executeMultiple(sql);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as MigrationExecutor;
}

/** Line of a TS statement: where its first line is written in the module, else its function. */
function tsLocator(file: string, direction: Direction): (sql: string) => number {
  const source = fs.readFileSync(file, "utf8");
  const lineAt = (index: number) => source.slice(0, index).split("\n").length;
  const fnAt = new RegExp(`function\\s+${direction}\\b`).exec(source);
  const fallback = fnAt ? lineAt(fnAt.index) : 1;
  return (sql) => {
    const head = sql.trim().split("\n")[0]!.trim().slice(0, 60);
    const at = head.length >= 8 ? source.indexOf(head) : -1;
    return at >= 0 ? lineAt(at) : fallback;
  };
}
