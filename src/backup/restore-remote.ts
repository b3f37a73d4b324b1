/**
 * Restoring a remote database (libSQL server). The backup is verified first (checksum, then a
 * load into a scratch database). A non-empty target is refused unless forced; forced, a safety
 * backup of it is taken first. Then, in ONE write transaction: its objects are dropped, the backup
 * is replayed in bounded batches (one request each), the row counts are checked, and only then is
 * it committed — a failure anywhere (a refused statement, a lost connection, the server rolling
 * back a long transaction) leaves the target as it was. Foreign keys are deferred to the commit
 * (a server opens connections with enforcement on, and PRAGMA foreign_keys is ignored inside a
 * transaction). A backup that itself holds foreign-key violations cannot pass that commit: it is
 * replayed in batches that each commit, with enforcement off, and the warning says it is not
 * all-or-nothing.
 */
import type { Client, Transaction } from "@libsql/client";
import { StrataError } from "../errors.ts";
import { describeDbError } from "../db/errors.ts";
import type { Logger } from "../output/logger.ts";
import { redactUrl } from "../output/redact.ts";
import { createBackup, snapshotHasForeignKeyViolations, verifyDump, verifySnapshot } from "./create.ts";
import { countMismatches, countRows, dataTables, fileUrl, lockTableOf, openClient, readVersion, schemaObjects, type Executor, type SchemaObject } from "./db.ts";
import { dumpStatements } from "./dump.ts";
import { hashFile } from "./files.ts";
import { Progress } from "./progress.ts";
import { DumpReader, replay } from "./replay.ts";
import { checkCounts, checkDigest, planOf, sum, type RestoreContext, type RestoreOutcome } from "./restore.ts";
import { quoteIdent } from "./sql-literal.ts";

export async function restoreRemote(ctx: RestoreContext): Promise<RestoreOutcome> {
  const { file, manifest, logger } = ctx;
  const display = redactUrl(ctx.url);
  const lock = lockTableOf(manifest.table);

  // 1. The backup: checksum, then a full load into a scratch database.
  const progress = new Progress(logger, "verify");
  try {
    checkDigest(await hashFile(file, (bytes) => progress.update(undefined, bytes, "checksum")), manifest, file);
  } finally {
    progress.end();
  }
  const checked = manifest.kind === "dump" ? await verifyDump(file, manifest.tables, ctx.dir, logger, [lock]) : await verifySnapshot(file, manifest.table);
  checkCounts(checked, manifest, file);
  // Whether the replay can be one transaction (foreign keys are checked at its commit).
  const violations = checked.foreignKeyViolations ?? (await snapshotHasForeignKeyViolations(file));

  // 2. The target.
  const client = openClient(ctx.url, { authToken: ctx.authToken, intMode: "bigint" });
  let safety: string | null = null;
  try {
    let objects: SchemaObject[];
    let targetVersion: string | null;
    try {
      objects = await schemaObjects(client);
      targetVersion = await readVersion(client, ctx.table, objects.some((o) => o.type === "table" && o.name.toLowerCase() === ctx.table.toLowerCase()));
    } catch (e) {
      throw describeDbError(e, display);
    }
    if (objects.length > 0 && !ctx.force) {
      const tables = objects.filter((o) => o.type === "table").map((o) => o.name);
      throw new StrataError("state", `${display} is not empty (${tables.length} tables: ${tables.slice(0, 6).join(", ")}${tables.length > 6 ? ", …" : ""}); refusing to restore over it`, {
        hint: "pass --force to replace its contents (a safety backup is taken first); nothing was changed",
      });
    }
    await ctx.confirm(planOf(file, manifest, display, true, targetVersion, objects.length));

    // 3. Safety backup.
    if (objects.length > 0) {
      const made = await createBackup({ url: ctx.url, authToken: ctx.authToken, table: ctx.table, busyTimeoutMs: ctx.busyTimeoutMs, dir: ctx.dir, reason: "pre-restore", logger });
      safety = made.path;
      logger.info(`safety backup of the current database: ${made.path}`);
    }

    // 4. Drop, replay, check: in one transaction when the backup allows it.
    const statements = () => (manifest.kind === "dump" ? new DumpReader(file).statements() : snapshotStatements(file, lock));
    const drops = objects.length > 0 ? await dropStatements(client, objects) : [];
    const tables = violations
      ? await replayInBatches(client, drops, statements(), display, logger)
      : await replayAtomically(client, drops, statements(), display, manifest.tables, lock, logger);
    const mismatches = countMismatches(manifest.tables, tables, [lock]);
    if (mismatches.length > 0) throw new StrataError("failure", `after the restore ${display} does not hold the backup's rows: ${mismatches.slice(0, 5).join("; ")}`);
    const hasTable = Object.keys(tables).some((t) => t.toLowerCase() === ctx.table.toLowerCase());
    return { database: display, version: await readVersion(client, ctx.table, hasTable), safetyBackup: safety, tables, rows: sum(tables) };
  } catch (e) {
    const err = e instanceof StrataError ? e : describeDbError(e, display);
    if (safety !== null) err.details = { ...err.details, safetyBackup: safety };
    throw err;
  } finally {
    client.close();
  }
}

/** Everything in the target, dropped: views and triggers, then tables that reference others first. */
async function dropStatements(client: Client, objects: SchemaObject[]): Promise<string[]> {
  const rs = await client.execute(`SELECT m.name AS child, f."table" AS parent FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`);
  const parents = new Map<string, Set<string>>();
  for (const r of rs.rows) {
    const child = String(r.child).toLowerCase();
    const parent = String(r.parent).toLowerCase();
    if (child !== parent) parents.set(child, (parents.get(child) ?? new Set()).add(parent));
  }
  // Children before parents: dropping a parent with its children still there would delete
  // (or refuse to delete) their rows through the foreign keys, which are on.
  const left = objects.filter((o) => o.type === "table");
  const ordered: SchemaObject[] = [];
  while (left.length > 0) {
    const referenced = new Set(left.flatMap((o) => [...(parents.get(o.name.toLowerCase()) ?? [])]));
    const free = left.filter((o) => !referenced.has(o.name.toLowerCase()));
    const next = free.length > 0 ? free : [left[0]!]; // a cycle: any order, the commit decides
    for (const o of next) left.splice(left.indexOf(o), 1);
    ordered.push(...next);
  }
  return [
    ...objects.filter((o) => o.type === "view").map((o) => `DROP VIEW IF EXISTS ${quoteIdent(o.name)}`),
    ...objects.filter((o) => o.type === "trigger").map((o) => `DROP TRIGGER IF EXISTS ${quoteIdent(o.name)}`),
    ...ordered.map((o) => `DROP TABLE IF EXISTS ${quoteIdent(o.name)}`),
  ];
}

async function replayAtomically(client: Client, drops: string[], statements: AsyncIterable<string>, display: string, expected: Record<string, number>, lock: string, logger: Logger): Promise<Record<string, number>> {
  let tx: Transaction | undefined;
  const progress = new Progress(logger, "restore");
  try {
    tx = await client.transaction("write");
    await tx.batch(["PRAGMA defer_foreign_keys=ON", ...drops]);
    if (drops.length > 0) logger.info(`dropping ${drops.length} objects from ${display} and replaying the backup in one transaction`);
    // Batches bounded by bytes (1 MB) more than by count: inside one transaction nothing is
    // gained by committing less at a time, and every batch is a request.
    const r = await replay(client, statements, { displayUrl: display, maxStatements: 5000, runBatch: (b) => tx!.batch(b), onProgress: (_s, rows) => progress.update(rows, undefined, display) });
    const tables = await countRows(tx, await dataTables(tx as Executor));
    const mismatches = countMismatches(expected, tables, [lock]);
    if (mismatches.length > 0) throw new StrataError("failure", `replaying the backup into ${display} did not give its rows: ${mismatches.slice(0, 5).join("; ")}`);
    await tx.commit();
    logger.debug(`replayed ${r.statements} statements`);
    return tables;
  } catch (e) {
    const err = e instanceof StrataError ? e : describeDbError(e, display);
    throw new StrataError(err.kind === "lock" || err.kind === "unreachable" ? err.kind : "failure", `restore into ${display} failed and was rolled back, nothing changed: ${err.message}`, {
      hint: err.hint ?? "fix the cause, then run the restore again",
      cause: e,
      details: err.details,
    });
  } finally {
    progress.end();
    tx?.close();
  }
}

async function replayInBatches(client: Client, drops: string[], statements: AsyncIterable<string>, display: string, logger: Logger): Promise<Record<string, number>> {
  logger.warn(`the backup holds foreign-key violations, which a single transaction could not commit: restoring ${display} in batches that each commit (not all-or-nothing; the safety backup has the previous state)`);
  let replayed = 0;
  const progress = new Progress(logger, "restore");
  try {
    if (drops.length > 0) await client.migrate(drops);
    const r = await replay(client, statements, { displayUrl: display, onProgress: (s, rows) => ((replayed = s), progress.update(rows, undefined, display)) });
    replayed = r.statements;
  } catch (e) {
    const err = e instanceof StrataError ? e : describeDbError(e, display);
    throw new StrataError(err.kind === "lock" ? "lock" : "failure", `restore into ${display} failed after ${replayed} statements: ${err.message}`, {
      hint: "the database is partially restored; fix the cause, then run the restore again with --force",
      cause: e,
      details: { ...err.details, statementsReplayed: replayed },
    });
  } finally {
    progress.end();
  }
  return countRows(client, await dataTables(client));
}

/** The statements of a snapshot file, for replaying it into a remote database. */
async function* snapshotStatements(file: string, lockTable: string): AsyncGenerator<string> {
  const client = openClient(fileUrl(file), { intMode: "bigint" });
  try {
    for await (const s of dumpStatements(client, { skipRowsOf: [lockTable] })) yield s.sql;
  } finally {
    client.close();
  }
}
