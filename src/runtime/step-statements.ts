/**
 * The statements of one migration's transaction, each with its role (failure.ts): guard start,
 * the migration's own statements, the foreign-key check, the version row, guard clean-up.
 */
import type { InStatement } from "@libsql/client";
import type { MigrationFile } from "../script/discover.ts";
import type { Direction } from "../script/load.ts";
import { canAddViolations, guardEnd, guardForeignKeys, guardStart, guardVersionRow, stepDurationMs, type CountOptions, type Scope } from "./guard.ts";
import { RoledStatements } from "./failure.ts";
import type { Identity, Store } from "./store.ts";

/** Statements that record a step in the version table, inside its transaction (with their roles). */
export function recordInto(store: Store, me: Identity, b: RoledStatements, file: MigrationFile, direction: Direction): RoledStatements {
  const g = store.guard;
  if (direction === "up") {
    return b.add({ kind: "record" }, store.insertApplied({ version: file.version, name: file.name, checksum: file.checksum, state: "applied", appliedBy: me.holder }, stepDurationMs(g)));
  }
  return b.add({ kind: "record" }, store.deleteApplied(file.version)).add({ kind: "version-guard" }, guardVersionRow(g));
}

/**
 * One migration's transaction: guard start, its statements, the checks, its version row, then
 * `tail` (lease renewal). The foreign-key check is left out when the statements cannot add a
 * violation (guard.ts canAddViolations).
 */
export function stepStatements(
  store: Store,
  me: Identity,
  file: MigrationFile,
  direction: Direction,
  userStatements: string[],
  scope: Scope,
  tail: InStatement[],
  count: CountOptions = {},
): RoledStatements {
  const g = store.guard;
  const b = new RoledStatements().add({ kind: "guard-start" }, guardStart(g, scope, count));
  userStatements.forEach((sql, index) => b.add({ kind: "user", index }, sql));
  if (canAddViolations(scope)) b.add({ kind: "foreign-keys" }, guardForeignKeys(g, scope, count));
  recordInto(store, me, b, file, direction);
  b.add({ kind: "bookkeeping" }, guardEnd(g));
  if (tail.length > 0) b.add({ kind: "bookkeeping" }, ...tail);
  return b;
}
