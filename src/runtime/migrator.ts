/**
 * The engine: reads the database state, holds the run lock, and applies or reverts
 * migrations, each atomically with its version row. Commands (src/commands) decide what to
 * run; the engine decides how. This file only composes its parts, one concern each:
 * reads.ts (state, retries, outage budget), lock.ts (run lock, lease, audit log),
 * transaction.ts (opening transactions with enforcement off), step.ts (one migration),
 * sql-group.ts (a plan, SQL migrations grouped), single-transaction.ts (--single-transaction).
 *
 * Round trips matter on remote databases, so:
 * - lock + state read is one batch;
 * - an SQL migration (statements + guards + version row + lease renewal) is one batch;
 * - releasing the lock and writing the audit log is one batch.
 */
import type { InStatement, Transaction } from "@libsql/client";
import type { Database } from "../db/connection.ts";
import type { Logger } from "../output/logger.ts";
import type { MigrationFile } from "../script/discover.ts";
import { loadStep, type Direction } from "../script/load.ts";
import { identity, RunLock } from "./lock.ts";
import { Reads, type LogRow } from "./reads.ts";
import { SingleTransaction } from "./single-transaction.ts";
import { GroupRunner } from "./sql-group.ts";
import { StepRunner } from "./step.ts";
import { Store, type Identity, type LogEntry } from "./store.ts";
import { Transactions } from "./transaction.ts";
import type { DbState, LockInfo, PlannedRun, StepResult } from "./types.ts";

export type { DbState, LockInfo, Outcome, PlannedRun, StepResult } from "./types.ts";
export { identity } from "./lock.ts";
export { MAX_RERUNS } from "./rerun.ts";

export interface EngineOptions {
  db: Database;
  table: string;
  logger: Logger;
  lockTimeoutMs: number;
  /** Lease length of the run lock; renewed after every migration. */
  leaseMs?: number;
}

export class Engine {
  readonly db: Database;
  readonly store: Store;
  readonly logger: Logger;
  readonly me: Identity = identity();
  private readonly reads: Reads;
  private readonly runLock: RunLock;
  private readonly transactions: Transactions;
  private readonly steps: StepRunner;
  private readonly groups: GroupRunner;
  private readonly single: SingleTransaction;

  constructor(options: EngineOptions) {
    this.db = options.db;
    this.store = new Store(options.table);
    this.logger = options.logger;
    this.reads = new Reads(this.db, this.store, this.logger, options.lockTimeoutMs);
    this.runLock = new RunLock(this.reads, this.me, options.leaseMs ?? 60_000);
    this.transactions = new Transactions(this.db, this.logger);
    const parts = { db: this.db, store: this.store, logger: this.logger, reads: this.reads, runLock: this.runLock, transactions: this.transactions };
    this.steps = new StepRunner(parts);
    this.groups = new GroupRunner(parts, this.steps);
    this.single = new SingleTransaction(parts);
  }

  // ---------------------------------------------------------------- reading (reads.ts)

  waitUntilReachable(timeoutMs: number): Promise<number> {
    return this.reads.waitUntilReachable(timeoutMs);
  }

  readState(attempts?: number): Promise<DbState> {
    return this.reads.readState(attempts);
  }

  retryRead<T>(fn: () => Promise<T>, attempts?: number): Promise<T> {
    return this.reads.retryRead(fn, attempts);
  }

  readLog(limit: number): Promise<LogRow[]> {
    return this.reads.readLog(limit);
  }

  // ---------------------------------------------------------------- locking (lock.ts)

  lock(command: string): Promise<{ state: DbState; lock: LockInfo }> {
    return this.runLock.lock(command);
  }

  unlockAndLog(entry: LogEntry): Promise<void> {
    return this.runLock.unlockAndLog(entry);
  }

  finishRun(entry: LogEntry, steps: StepResult[]): Promise<StepResult[]> {
    return this.runLock.finishRun(entry, steps);
  }

  recordUnderLock<T>(
    command: string,
    fn: (state: DbState) => Promise<{ result: T; statements: InStatement[]; log: { command: string; versions: string[] } }>,
  ): Promise<T> {
    return this.runLock.recordUnderLock(command, fn);
  }

  unlock(): Promise<void> {
    return this.runLock.unlock();
  }

  appendLog(entry: LogEntry): Promise<void> {
    return this.runLock.appendLog(entry);
  }

  // ---------------------------------------------------------------- applying

  /** Applies one migration. Throws StrataError on failure, with file and line for SQL. */
  async up(file: MigrationFile): Promise<StepResult> {
    return this.steps.run(file, "up", await loadStep(file, "up"));
  }

  async down(file: MigrationFile): Promise<StepResult> {
    return this.steps.run(file, "down", await loadStep(file, "down"));
  }

  /** Runs steps in order, SQL migrations grouped (sql-group.ts). */
  runSteps(...args: Parameters<GroupRunner["runSteps"]>): Promise<StepResult[]> {
    return this.groups.runSteps(...args);
  }

  /** --single-transaction: all steps commit or none does. */
  runAll(items: PlannedRun[]): Promise<StepResult[]> {
    return this.single.runAll(items);
  }

  inTransaction<T>(prelude: InStatement[], fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.transactions.inTransaction(prelude, fn);
  }
}

export type { Direction };
