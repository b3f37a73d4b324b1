/**
 * How the engine opens a migration's transaction: always with foreign-key enforcement off
 * (SQLite's documented way to change schemas: no ON DELETE CASCADE fires when a parent table
 * is dropped or rebuilt), as one batch when the statements are known, interactively otherwise.
 */
import type { InStatement, Transaction } from "@libsql/client";
import { messageOf } from "../errors.ts";
import type { Database } from "../db/connection.ts";
import { classifyError } from "../db/errors.ts";
import type { Logger } from "../output/logger.ts";
import { enforcementError, StageError, type RoledStatements } from "./failure.ts";

/** Thrown inside a transaction to roll it back on purpose (a probe that must change nothing). */
export class RollbackSignal extends Error {}

export class Transactions {
  private localPrepared = false;

  private readonly db: Database;
  private readonly logger: Logger;

  constructor(db: Database, logger: Logger) {
    this.db = db;
    this.logger = logger;
  }

  /**
   * Runs `fn` in a write transaction with foreign-key enforcement off. An error of a prelude
   * statement comes out as a StageError with the guard-start role.
   */
  async inTransaction<T>(prelude: InStatement[], fn: (tx: Transaction) => Promise<T>): Promise<T> {
    // Local: one pooled connection, so the pragma set here holds for the transaction below.
    if (!this.db.remote) await this.db.client.execute("PRAGMA foreign_keys = OFF");
    const tx = await this.db.client.transaction("write");
    try {
      // Remote: the pragma is ignored inside a transaction, and @libsql/client begins one at
      // once: end it, switch enforcement off on this stream, and begin again — with the prelude
      // and the check that enforcement is off, in the same round trip.
      const restart = this.db.remote ? ["ROLLBACK", "PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE"] : [];
      const results = await tx.batch([...restart, ...prelude, "PRAGMA foreign_keys"]).catch((e) => {
        const i = (e as { statementIndex?: number }).statementIndex;
        throw new StageError(i !== undefined && i >= restart.length && i < restart.length + prelude.length ? { kind: "guard-start" } : undefined, e);
      });
      const fk = results[results.length - 1]!;
      if (Number(fk.rows[0]?.[0] ?? 0) !== 0) throw enforcementError(this.db.displayUrl);
      const result = await fn(tx);
      await tx.commit();
      return result;
    } finally {
      tx.close();
    }
  }

  /**
   * Runs statements as one transaction with foreign-key enforcement off: remote, through
   * client.migrate (pragma + BEGIN … COMMIT in one round trip); local, as a write batch on the
   * single connection, where the pragmas are set first.
   */
  async runBatch(stmts: InStatement[]): Promise<void> {
    if (this.db.remote) {
      await this.db.client.migrate(stmts);
      return;
    }
    await this.prepareLocal();
    await this.db.client.batch(stmts, "write");
  }

  /** Local connection set-up, once: enforcement off on the single connection (outside any transaction). */
  async prepareLocal(): Promise<void> {
    if (this.db.remote || this.localPrepared) return;
    await this.db.client.execute("PRAGMA foreign_keys = OFF");
    this.localPrepared = true;
  }

  /**
   * sqld parses a whole batch before running any of it and refuses it without saying which
   * statement it refused. Only for such a statement failure without a position: the user's
   * statements run one request each in a transaction that is always rolled back, and the first
   * that fails is the one. Returns its position in `b` and its own error.
   */
  async locateRefused(e: unknown, b: RoledStatements): Promise<{ error: unknown; index: number; position: number } | undefined> {
    if (!this.db.remote || classifyError(e).class !== "statement" || (e as { statementIndex?: unknown }).statementIndex !== undefined) return undefined;
    let found: { error: unknown; index: number; position: number } | undefined;
    try {
      await this.inTransaction([], async (tx) => {
        for (const [position, role] of b.roles.entries()) {
          if (role.kind !== "user") continue;
          try {
            await tx.execute(b.statements[position]!);
          } catch (err) {
            if (classifyError(err).class === "statement") found = { error: err, index: role.index, position };
            break;
          }
        }
        throw new RollbackSignal();
      });
    } catch (err) {
      if (!(err instanceof RollbackSignal)) this.logger.debug(`could not locate the refused statement: ${messageOf(err)}`);
    }
    return found;
  }
}
