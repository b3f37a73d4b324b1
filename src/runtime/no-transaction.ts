/**
 * A migration marked no-transaction (statements SQLite refuses inside one, or work too long
 * for one): "started" is recorded first, each statement runs on its own, then the end is
 * recorded. Stopping midway leaves the "started" row for `strata resolve`.
 */
import type { Database } from "../db/connection.ts";
import { describeDbError } from "../db/errors.ts";
import type { MigrationFile } from "../script/discover.ts";
import type { Direction, LoadedStep } from "../script/load.ts";
import { statementError, tsError } from "./failure.ts";
import type { Identity, Store } from "./store.ts";

export async function runWithoutTransaction(db: Database, store: Store, me: Identity, file: MigrationFile, direction: Direction, step: LoadedStep): Promise<void> {
  const client = db.client;
  const started = performance.now();
  const mark = direction === "up"
    ? store.insertApplied({ version: file.version, name: file.name, checksum: file.checksum, state: "started", appliedBy: me.holder })
    : store.markStarted(file.version);
  try {
    await client.execute(mark);
  } catch (e) {
    throw describeDbError(e, db.displayUrl);
  }
  if (step.kind === "sql") {
    for (const [i, s] of step.statements.entries()) {
      try {
        await client.execute(s.sql);
      } catch (e) {
        throw statementError(e, file, direction, step, i, true);
      }
    }
  } else {
    try {
      await step.run(client);
    } catch (e) {
      throw tsError(e, step.file, direction, true);
    }
  }
  const finish = direction === "up" ? store.markApplied(file.version, Math.round(performance.now() - started)) : store.deleteApplied(file.version);
  await client.execute(finish);
}
