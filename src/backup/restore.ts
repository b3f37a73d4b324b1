/**
 * Putting a backup back.
 *
 * Local database: the replacement is built next to the target (a hashed copy of a snapshot, or a
 * dump loaded into a new file), verified, then renamed over the target in one atomic step, after
 * making sure no other process has the target open and after a safety backup of what is there.
 *
 * Remote database: restore-remote.ts.
 */
import fs from "node:fs";
import path from "node:path";
import type { Client } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { localPathOf } from "../db/connection.ts";
import type { Logger } from "../output/logger.ts";
import { redactUrl } from "../output/redact.ts";
import { sleep } from "../platform/process.ts";
import { buildInfo } from "../build-info.ts";
import { createBackup, linkUnique, manifestOf, verifySnapshot, type Checked } from "./create.ts";
import { countMismatches, countRows, dataTables, fileUrl, lockTableOf, openClient, readVersion, schemaObjects, tableExists } from "./db.ts";
import { FILE_MODE, copyHashed, diskFullError, heldHandle, fsyncDir, fsyncFile, hashFile, isDiskFull, removeDbFiles, removeQuietly, tempPathFor, type Digest } from "./files.ts";
import { manifestPathOf, writeManifest, type Manifest } from "./manifest.ts";
import { backupBaseName, databaseLabel, utcStamp } from "./naming.ts";
import { describeHolders, lockForSwap, openHandles, writerActive, type SwapLock } from "./holders.ts";
import { Progress } from "./progress.ts";
import { DumpReader, replay } from "./replay.ts";
import { quoteIdent } from "./sql-literal.ts";

/** What a restore is about to do, for the confirmation question. */
export interface RestorePlan {
  backup: string;
  backupVersion: string | null;
  backupCreatedAt: string;
  backupSource: string;
  target: string;
  targetExists: boolean;
  targetVersion: string | null;
  /** Tables, views… in the target now. */
  targetObjects: number;
}

export interface RestoreContext {
  file: string;
  manifest: Manifest;
  url: string;
  authToken: string | undefined;
  /** strata's version table in the target (for the version reported afterwards). */
  table: string;
  /** Backup folder, for the safety backup. */
  dir: string;
  force: boolean;
  /** How long to wait for other processes to close a local target. */
  waitMs: number;
  busyTimeoutMs: number;
  logger: Logger;
  /** Resolves when the user agreed; throws otherwise. */
  confirm: (plan: RestorePlan) => Promise<void>;
}

export interface RestoreOutcome {
  database: string;
  version: string | null;
  safetyBackup: string | null;
  tables: Record<string, number>;
  rows: number;
}

/** What the confirmation question shows. */
export function planOf(file: string, manifest: Manifest, target: string, targetExists: boolean, targetVersion: string | null, targetObjects: number): RestorePlan {
  return {
    backup: file,
    backupVersion: manifest.version,
    backupCreatedAt: manifest.createdAt,
    backupSource: manifest.source,
    target,
    targetExists,
    targetVersion,
    targetObjects,
  };
}

export function checkDigest(digest: Digest, manifest: Manifest, file: string): void {
  if (digest.sha256 === manifest.sha256 && digest.size === manifest.size) return;
  throw new StrataError("state", `backup ${file} does not match its manifest: sha256 ${digest.sha256.slice(0, 12)}… (${digest.size} bytes), manifest says ${manifest.sha256.slice(0, 12)}… (${manifest.size} bytes)`, {
    file,
    hint: "the backup was modified or damaged after it was written; nothing was changed. Use another backup",
  });
}

export function checkCounts(checked: Checked, manifest: Manifest, file: string): void {
  const mismatches = countMismatches(manifest.tables, checked.tables, [lockTableOf(manifest.table)]);
  if (mismatches.length > 0) {
    throw new StrataError("state", `backup ${file} does not hold the rows its manifest lists: ${mismatches.slice(0, 5).join("; ")}`, {
      file,
      hint: "the backup and its manifest do not belong together; nothing was changed",
    });
  }
}

// ------------------------------------------------------------------------------------- local

export async function restoreLocal(ctx: RestoreContext): Promise<RestoreOutcome> {
  const { file, manifest, logger } = ctx;
  const target = localPathOf(ctx.url)!;
  const display = redactUrl(ctx.url);
  if (!fs.existsSync(path.dirname(target))) {
    throw new StrataError("unreachable", `cannot restore into ${target}: directory ${path.dirname(target)} does not exist`, { hint: "create it first or fix --url" });
  }
  const tmp = tempPathFor(target);
  const progress = new Progress(logger, "restore");
  let safety: string | null = null;
  let linked: string | undefined;
  let swapped = false;
  let lock: SwapLock | undefined;
  try {
    // 1. The replacement, built and verified beside the target (fsynced by prepareReplacement).
    if (manifest.kind === "snapshot") {
      checkDigest(await copyHashed(file, tmp, (bytes) => progress.update(undefined, bytes, "copying"), false), manifest, file);
    } else {
      checkDigest(await hashFile(file, (bytes) => progress.update(undefined, bytes, "checksum")), manifest, file);
      fs.writeFileSync(tmp, "", { flag: "wx", mode: FILE_MODE });
      await loadDump(file, tmp, progress);
    }
    const checked = await verifySnapshot(tmp, manifest.table, progress, file);
    progress.end();
    checkCounts(checked, manifest, file);

    const exists = fs.existsSync(target);
    const before = exists ? await inspectLocal(target, ctx.table) : undefined;
    await prepareReplacement(tmp, lockTableOf(manifest.table), before?.journalMode ?? manifest.journalMode);

    // 2. Nobody else may have the target open: its writes would go to the replaced file. The
    // /proc scan names visible processes; SQLite's lock catches the others (tried once now, so
    // that a refusal changes nothing, and held for the swap).
    if (exists) {
      await waitForNoHolders(target, ctx.waitMs, logger);
      if (before?.readable) await (await lockForSwap(target, swapLockTimeout(ctx))).release(true);
    }

    // 3. Confirmation, 4. safety backup, 5. swap under the exclusive lock.
    await ctx.confirm(planOf(file, manifest, display, exists, before?.version ?? null, before?.objects ?? 0));
    if (exists) {
      if (before?.readable) {
        // Read under the lock through a descriptor never closed (see heldHandle).
        const targetFh = await heldHandle(target);
        lock = await lockForSwap(target, swapLockTimeout(ctx));
        linked = await linkedSafetyBackup(ctx, target, targetFh, lock, before.journalMode);
        safety = linked ?? null;
        if (!linked) {
          // Another file system (or no hard links): a snapshot, which needs the lock released.
          await lock.release(true);
          lock = undefined;
          safety = await safetyBackup(ctx, true);
          lock = await lockForSwap(target, swapLockTimeout(ctx));
        }
      } else safety = await safetyBackup(ctx, false);
      for (const suffix of ["-wal", "-shm", "-journal"]) removeQuietly(target + suffix);
      const late = openHandles(target);
      if (late.length > 0) throw holdersError(target, late);
    }
    await fs.promises.rename(tmp, target);
    swapped = true;
    await fsyncDir(path.dirname(target));
  } catch (e) {
    progress.end();
    removeDbFiles(tmp);
    await lock?.release(true).catch(() => undefined);
    lock = undefined;
    if (linked && !swapped) {
      // Not swapped: the "safety backup" is still the live database under a second name.
      removeQuietly(manifestPathOf(linked));
      removeQuietly(linked);
      safety = null;
    }
    const err = isDiskFull(e) && !(e instanceof StrataError) ? diskFullError(path.dirname(target), `the restored copy of ${file}`, e) : e;
    if (err instanceof StrataError && safety) err.details = { ...err.details, safetyBackup: safety };
    throw err;
  }
  // The replaced file now lives on only as the safety backup: a backup's mode.
  if (linked) await fs.promises.chmod(linked, FILE_MODE).catch(() => undefined);
  await lock?.release(false);
  const after = openClient(fileUrl(target), { intMode: "number", busyTimeoutMs: ctx.busyTimeoutMs });
  try {
    const tables = await countRows(after, await dataTables(after));
    return { database: display, version: await readVersion(after, ctx.table), safetyBackup: safety, tables, rows: sum(tables) };
  } finally {
    after.close();
  }
}

/**
 * The safety backup as the replaced file itself: a hard link in the backup folder, taken while
 * `lock` (exclusive, held across the swap) keeps every other connection out, with its hash, row
 * counts and version in the manifest, all read under that lock. After the swap the link is the
 * file's only name. Undefined when the folder is on another file system (or has no hard links).
 */
async function linkedSafetyBackup(ctx: RestoreContext, target: string, fh: fs.promises.FileHandle, lock: SwapLock, journalMode: string | null): Promise<string | undefined> {
  fs.mkdirSync(ctx.dir, { recursive: true, mode: 0o700 });
  if (fs.statSync(ctx.dir).dev !== fs.statSync(target).dev) return undefined;
  const started = Date.now();
  const createdAt = new Date(started);
  const source = { url: ctx.url, table: ctx.table, reason: "pre-restore" as const };
  // Leaving WAL for the lock checkpointed everything into the file: it is the whole database.
  const tables = await countRows(lock.client, await dataTables(lock.client));
  const version = await readVersion(lock.client, ctx.table);
  const digest = await hashFile(fh);
  const dest = await linkUnique(target, ctx.dir, backupBaseName(databaseLabel(ctx.url), utcStamp(createdAt), version, "pre-restore"), ".db");
  if (!dest) return undefined;
  try {
    await writeManifest(dest, manifestOf(source, dest, "snapshot", createdAt, started, { version, tables, rows: sum(tables), journalMode, ...digest }));
  } catch (e) {
    removeQuietly(dest);
    throw e;
  }
  ctx.logger.info(`safety backup of the current database: ${dest}`);
  return dest;
}

async function loadDump(file: string, dbFile: string, progress: Progress): Promise<void> {
  const client = openClient(fileUrl(dbFile), { intMode: "bigint" });
  try {
    await client.execute("PRAGMA journal_mode=OFF"); // a scratch file until it is complete
    const reader = new DumpReader(file);
    await replay(client, reader.statements(), { displayUrl: dbFile, onProgress: (_s, rows) => progress.update(rows, undefined, "loading") });
    if (!reader.trailer) throw new StrataError("state", `${file} is incomplete: its end marker is missing`, { file, hint: "nothing was changed" });
    await client.execute("PRAGMA journal_mode=DELETE");
  } finally {
    client.close();
  }
}

interface LocalInfo {
  readable: boolean;
  version: string | null;
  journalMode: string | null;
  objects: number;
}

async function inspectLocal(file: string, table: string): Promise<LocalInfo> {
  let client: Client | undefined;
  try {
    client = openClient(fileUrl(file), { intMode: "number", busyTimeoutMs: 1000 });
    const objects = (await schemaObjects(client)).length;
    const journalMode = String((await client.execute("PRAGMA journal_mode")).rows[0]?.[0] ?? "") || null;
    return { readable: true, version: await readVersion(client, table), journalMode, objects };
  } catch {
    // A damaged database is a reason to restore: go on, with a raw safety copy.
    return { readable: false, version: null, journalMode: null, objects: 0 };
  } finally {
    client?.close();
  }
}

/** Drops the stale run lock, and keeps the target's WAL mode if it had it. */
async function prepareReplacement(tmp: string, lockTable: string, journalMode: string | null): Promise<void> {
  const client = openClient(fileUrl(tmp), { intMode: "number" });
  try {
    if (await tableExists(client, lockTable)) await client.execute(`DELETE FROM ${quoteIdent(lockTable)}`);
    if (journalMode?.toLowerCase() === "wal") await client.execute("PRAGMA journal_mode=WAL");
  } finally {
    client.close();
  }
  for (const suffix of ["-wal", "-shm", "-journal"]) removeQuietly(tmp + suffix);
  await fsyncFile(tmp);
}

function holdersError(target: string, holders: ReturnType<typeof openHandles>): StrataError {
  return new StrataError("lock", `${target} is open in another process: ${describeHolders(holders)}`, {
    hint: "stop the app first (replacing the file under it would lose its next writes), then run restore again; nothing was changed",
    details: { holders },
  });
}

/** Waits up to `waitMs` until no other process has `target` open or writes to it. */
async function waitForNoHolders(target: string, waitMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + waitMs;
  let announced = false;
  for (;;) {
    const holders = openHandles(target);
    const busy = holders.length === 0 && (await writerActive(target));
    if (holders.length === 0 && !busy) return;
    if (Date.now() >= deadline) {
      if (holders.length > 0) throw holdersError(target, holders);
      throw new StrataError("lock", `${target} is being written by another process (SQLITE_BUSY on BEGIN IMMEDIATE)`, {
        hint: "stop the app first, then run restore again; nothing was changed",
      });
    }
    if (!announced) logger.info(`waiting for ${holders.length > 0 ? describeHolders(holders) : "another writer"} to close ${target}`);
    announced = true;
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())));
  }
}

/** How long the swap waits for SQLite's lock: --close-timeout, at least half a second. */
function swapLockTimeout(ctx: RestoreContext): number {
  return Math.max(500, ctx.waitMs);
}

async function safetyBackup(ctx: RestoreContext, readable: boolean): Promise<string> {
  if (readable) {
    try {
      const made = await createBackup({ url: ctx.url, authToken: ctx.authToken, table: ctx.table, busyTimeoutMs: ctx.busyTimeoutMs, dir: ctx.dir, reason: "pre-restore", logger: ctx.logger });
      ctx.logger.info(`safety backup of the current database: ${made.path}`);
      return made.path;
    } catch (e) {
      ctx.logger.warn(`cannot take a snapshot of the current database (${messageOf(e)}); keeping a raw copy instead`);
    }
  }
  return rawCopy(ctx);
}

/** A byte copy of a local database that SQLite cannot snapshot (nobody has it open: checked). */
async function rawCopy(ctx: RestoreContext): Promise<string> {
  const target = localPathOf(ctx.url)!;
  const label = databaseLabel(ctx.url);
  fs.mkdirSync(ctx.dir, { recursive: true, mode: 0o700 });
  const dest = path.join(ctx.dir, backupBaseName(label, utcStamp(), "unknown", "pre-restore") + ".db");
  const started = Date.now();
  const digest = await copyHashed(target, dest);
  if (fs.existsSync(`${target}-wal`)) await copyHashed(`${target}-wal`, `${dest}-wal`);
  await writeManifest(dest, {
    format: "strata-backup",
    formatVersion: 1,
    kind: "snapshot",
    file: path.basename(dest),
    database: label,
    source: redactUrl(ctx.url),
    version: null,
    table: ctx.table,
    reason: "pre-restore",
    sha256: digest.sha256,
    size: digest.size,
    tables: {},
    rows: 0,
    journalMode: null,
    strataVersion: buildInfo.version,
    createdAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    raw: true,
  });
  await fsyncDir(ctx.dir);
  ctx.logger.info(`raw safety copy of the current database: ${dest}`);
  return dest;
}

export function sum(tables: Record<string, number>): number {
  return Object.values(tables).reduce((a, b) => a + b, 0);
}
