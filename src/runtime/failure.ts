/**
 * Why a migration's transaction failed. The engine knows what each statement it sent is for
 * (its Role); a failed statement's position (LibsqlBatchError.statementIndex) and the error's
 * class (db/errors.ts, structured fields only) decide the explanation. The text of the error
 * never does: servers echo the failing SQL, and a migration may throw any message.
 */
import path from "node:path";
import type { InStatement } from "@libsql/client";
import { StrataError } from "../errors.ts";
import { classifyError, isConstraintError, sqliteMessage } from "../db/errors.ts";
import type { MigrationFile } from "../script/discover.ts";
import type { Direction, LoadedStep } from "../script/load.ts";

export type Role =
  | { kind: "guard-start" }
  | { kind: "user"; index: number }
  | { kind: "foreign-keys" }
  /** The version row's INSERT (up) or DELETE (down). */
  | { kind: "record" }
  /** The check that the DELETE of the version row changed exactly one row (down). */
  | { kind: "version-guard" }
  /** Guard clean-up, lease renewal: strata's bookkeeping. */
  | { kind: "bookkeeping" };

/** Statements with what each is for, built together so that positions always agree. */
export class RoledStatements {
  readonly statements: InStatement[] = [];
  readonly roles: Role[] = [];

  add(role: Role, ...stmts: InStatement[]): this {
    for (const s of stmts) {
      this.statements.push(s);
      this.roles.push(role);
    }
    return this;
  }

  /** The role of the statement an error came from, when the error says which. */
  roleOf(e: unknown, offset = 0): Role | undefined {
    const index = (e as { statementIndex?: unknown })?.statementIndex;
    return typeof index === "number" ? this.roles[index - offset] : undefined;
  }
}

/** An error from a stage of a TS migration's transaction, with where in `roles` it belongs. */
export class StageError extends Error {
  readonly role: Role | undefined;
  override readonly cause: unknown;

  constructor(role: Role | undefined, cause: unknown) {
    super("stage failed", { cause });
    this.role = role;
    this.cause = cause;
  }
}

export type Explained =
  /** The version row was written (up) or removed (down) by someone else meanwhile. */
  | { kind: "concurrent" }
  /** The request or its answer was lost: whether it committed is unknown. */
  | { kind: "lost" }
  /** The server rolled the transaction back by itself (lock held too long, stream expired). */
  | { kind: "rolled-back"; code: string }
  | { kind: "foreign-keys" }
  | { kind: "enforcement-on" }
  | { kind: "error"; error: StrataError };

export interface FailureContext {
  file: MigrationFile;
  direction: Direction;
  step: LoadedStep;
  remote: boolean;
  describe: (e: unknown) => StrataError;
}

/** Classifies a failed transactional step; `role` is the failed statement's, when known. */
export function explainFailure(e: unknown, role: Role | undefined, ctx: FailureContext): Explained {
  if (e instanceof StageError) return explainFailure(e.cause, e.role ?? role, ctx);
  if (e instanceof StrataError) return { kind: "error", error: e };
  const c = classifyError(e);
  if (c.class === "transport" || c.class === "timeout" || c.class === "server") {
    return ctx.remote ? { kind: "lost" } : { kind: "error", error: ctx.describe(e) };
  }
  if (c.class === "rolled-back") return { kind: "rolled-back", code: c.code ?? "rolled back" };
  if (c.class !== "statement") return { kind: "error", error: ctx.describe(e) };
  const constraint = isConstraintError(e);
  switch (role?.kind) {
    case "user":
      if (ctx.step.kind === "sql") return { kind: "error", error: statementError(e, ctx.file, ctx.direction, ctx.step, role.index, false) };
      break;
    case "guard-start":
      if (constraint) return { kind: "enforcement-on" };
      break;
    case "foreign-keys":
      if (constraint) return { kind: "foreign-keys" };
      break;
    case "record":
      if (constraint && ctx.direction === "up") return { kind: "concurrent" };
      break;
    case "version-guard":
      if (constraint) return { kind: "concurrent" };
      break;
  }
  return { kind: "error", error: ctx.describe(e) };
}

export function enforcementError(displayUrl: string): StrataError {
  return new StrataError("failure", `${displayUrl} refuses to turn foreign-key enforcement off for the migration`, {
    hint: "strata runs migrations with enforcement off so that rebuilding a table never cascades deletes; nothing was changed",
  });
}

export function statementError(e: unknown, file: MigrationFile, direction: Direction, step: LoadedStep & { kind: "sql" }, index: number, noTx: boolean, all = false): StrataError {
  const stmt = step.statements[index]!;
  const preview = stmt.sql.replace(/\s+/g, " ").slice(0, 120);
  return new StrataError("sql", `${sqliteMessage(e)} — in statement: ${preview}${stmt.sql.length > 120 ? "…" : ""}`, {
    file: step.file,
    line: stmt.line,
    hint: noTx
      ? `this no-transaction migration stopped midway; fix the database, then \`strata resolve ${file.version} --applied|--reverted\``
      : all
        ? "every migration of this --single-transaction run was rolled back; fix the statement and run again"
        : `${file.version}_${file.name} (${direction}) was rolled back; fix the statement and run again`,
    cause: e,
    details: { version: file.version, statement: stmt.sql, sqliteMessage: sqliteMessage(e) },
  });
}

/** An error a TS migration raised (its own, or a statement's it ran): always a migration failure. */
export function tsError(e: unknown, file: string, direction: Direction, noTx: boolean): StrataError {
  const base = path.basename(file);
  const stack = (e as Error)?.stack ?? "";
  const at = new RegExp(`${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:(\\d+)`).exec(stack);
  return new StrataError("sql", `${direction}() of ${base} failed: ${sqliteMessage(e)}`, {
    file,
    line: at ? Number(at[1]) : undefined,
    hint: noTx
      ? "this no-transaction migration stopped midway; fix the database, then `strata resolve <version> --applied|--reverted`"
      : "the migration was rolled back; fix it and run again",
    cause: e,
  });
}
