/**
 * Taking one backup: a consistent snapshot (local file, snapshot.ts) or a logical dump (remote
 * database, inside one read transaction), written under a temp name in the backup folder,
 * fsynced, verified, renamed, and described by its manifest.
 */
import fs from "node:fs";
import path from "node:path";
import type { Client, Transaction } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { isRemoteUrl } from "../config/settings.ts";
import { localPathOf } from "../db/connection.ts";
import { describeDbError } from "../db/errors.ts";
import type { Logger } from "../output/logger.ts";
import { redactUrl } from "../output/redact.ts";
import { buildInfo } from "../build-info.ts";
import { countMismatches, countRows, dataTables, fileUrl, integrityProblems, lockTableOf, openClient, readVersion, type Executor, type IntegrityCheck } from "./db.ts";
import { writeDumpFile } from "./dump.ts";
import { diskFullError, ensureDir, formatBytes, fsyncDir, fsyncWhile, hashFile, isDiskFull, removeDbFiles, removeQuietly, tempPathFor } from "./files.ts";
import { writeManifest, type BackupKind, type Manifest } from "./manifest.ts";
import { EXTENSION, backupBaseName, databaseLabel, utcStamp, type BackupReason } from "./naming.ts";
import { Progress } from "./progress.ts";
import { DumpReader, replay } from "./replay.ts";
import { copySnapshot, type CopiedSnapshot } from "./snapshot.ts";

export interface BackupSource {
  /** Normalized database URL. */
  url: string;
  authToken?: string | undefined;
  /** strata's version table. */
  table: string;
  busyTimeoutMs: number;
}

export interface CreateBackupOptions extends BackupSource {
  dir: string;
  reason: BackupReason;
  logger: Logger;
}

export interface CreatedBackup {
  path: string;
  manifestPath: string;
  manifest: Manifest;
}

/** Dumps larger than this are verified in a scratch file rather than in memory. */
const MEMORY_VERIFY_LIMIT = 16 << 20;

export async function createBackup(options: CreateBackupOptions): Promise<CreatedBackup> {
  ensureDir(options.dir);
  const label = databaseLabel(options.url);
  return isRemoteUrl(options.url) ? createDump(options, label) : createSnapshot(options, label);
}

// ------------------------------------------------------------------------------- local snapshot

async function createSnapshot(options: CreateBackupOptions, label: string): Promise<CreatedBackup> {
  const started = Date.now();
  const createdAt = new Date();
  const display = redactUrl(options.url);
  const file = localPathOf(options.url);
  if (file === undefined) throw new StrataError("usage", `cannot back up ${display}`);
  if (!fs.existsSync(file)) {
    throw new StrataError("unreachable", `database file ${file} does not exist; there is nothing to back up`, { hint: "check --url (or DATABASE_URL)" });
  }
  const tmp = tempPathFor(path.join(options.dir, label + EXTENSION.snapshot));
  const progress = new Progress(options.logger, "snapshot");
  try {
    const source = openClient(fileUrl(file), { busyTimeoutMs: options.busyTimeoutMs, intMode: "number" });
    let copied: CopiedSnapshot;
    try {
      options.logger.info(`taking a snapshot of ${display} (${formatBytes(sizeWithWal(file))})`);
      copied = await copySnapshot(source, file, tmp, (bytes) => progress.update(undefined, bytes, "copying"));
    } catch (e) {
      throw isDiskFull(e) ? diskFullError(options.dir, `a snapshot of ${display}`, e) : describeDbError(e, display);
    } finally {
      source.close();
    }
    // The copy is made durable while it is checked (both end before the rename). quick_check:
    // SQLite just wrote (or the source's own pages are) this file; restore runs the full check on its input.
    const checked = await fsyncWhile(tmp, () => verifySnapshot(tmp, options.table, progress, `the snapshot of ${display}`, "quick"));
    const digest = copied.digest ?? (await hashFile(tmp, (bytes) => progress.update(checked.rows, bytes, "checksum")));
    progress.end();
    return await finish(options, label, tmp, "snapshot", createdAt, started, {
      version: checked.version,
      tables: checked.tables,
      rows: checked.rows,
      journalMode: copied.journalMode,
      ...digest,
    });
  } catch (e) {
    progress.end();
    removeDbFiles(tmp);
    throw isDiskFull(e) && !(e instanceof StrataError) ? diskFullError(options.dir, `a snapshot of ${display}`, e) : e;
  }
}

function sizeWithWal(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      n += fs.statSync(f).size;
    } catch {
      /* no WAL */
    }
  }
  return n;
}

export interface Checked {
  version: string | null;
  tables: Record<string, number>;
  rows: number;
  /**
   * Whether the database holds foreign-key violations (a remote restore cannot defer them to a
   * commit). Only where it was free to ask (a dump's scratch copy); see snapshotHasForeignKeyViolations.
   */
  foreignKeyViolations?: boolean;
}

async function hasForeignKeyViolations(ex: Executor): Promise<boolean> {
  return (await ex.execute("SELECT 1 FROM pragma_foreign_key_check LIMIT 1")).rows.length > 0;
}

/**
 * Whether a snapshot file holds foreign-key violations. Asked only by the restore that needs it:
 * the check reads every child table (0.3 s on a 240 MB file with one foreign key, over half of
 * its quick_check), which a backup and a local restore never use.
 */
export async function snapshotHasForeignKeyViolations(file: string): Promise<boolean> {
  const client = openClient(fileUrl(file), { intMode: "number" });
  try {
    return await hasForeignKeyViolations(client);
  } catch (e) {
    throw describeDbError(e, file);
  } finally {
    client.close();
  }
}

/**
 * integrity_check (or quick_check), row counts and version of an SQLite file; throws when it is
 * not sound. `name` is what messages call the file: the user's backup, not the temp copy being
 * checked. "quick" skips what only the full check reads (index contents against their tables,
 * UNIQUE): 2.5–3× cheaper, for a copy strata just made; a restore's input gets "full".
 */
export async function verifySnapshot(file: string, table: string, progress?: Progress, name = file, check: IntegrityCheck = "full"): Promise<Checked> {
  const client = openClient(fileUrl(file), { intMode: "number" });
  try {
    let problems: string[];
    try {
      problems = await integrityProblems(client, check);
    } catch (e) {
      if ((e as { code?: unknown }).code !== "SQLITE_NOTADB") throw e;
      throw new StrataError("state", `${name} is not an SQLite database`, { cause: e, hint: "the file is not a backup strata wrote, or it was overwritten; nothing was changed" });
    }
    if (problems.length > 0) {
      throw new StrataError("state", `${name} failed PRAGMA ${check === "full" ? "integrity_check" : "quick_check"}: ${problems.slice(0, 3).join("; ")}${problems.length > 3 ? "; …" : ""}`, {
        hint: "the database file is damaged; nothing was changed",
      });
    }
    const names = await dataTables(client);
    const tables: Record<string, number> = {};
    let rows = 0;
    for (const t of names) {
      const n = (await countRows(client, [t]))[t]!;
      tables[t] = n;
      rows += n;
      progress?.update(rows, undefined, `counting ${t}`);
    }
    return { version: await readVersion(client, table), tables, rows };
  } catch (e) {
    throw e instanceof StrataError ? e : describeDbError(e, name);
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------- remote dump

async function createDump(options: CreateBackupOptions, label: string): Promise<CreatedBackup> {
  const started = Date.now();
  const createdAt = new Date();
  const display = redactUrl(options.url);
  const tmp = tempPathFor(path.join(options.dir, label + EXTENSION.dump));
  const progress = new Progress(options.logger, "dump");
  const client = openClient(options.url, { authToken: options.authToken, intMode: "bigint" });
  let tx: Transaction | undefined;
  try {
    let result;
    let version: string | null;
    try {
      const opened = await readTransaction(client, options.table, options.logger, display);
      tx = opened?.tx;
      const ex: Executor = tx ?? client;
      version = await readVersion(ex, options.table, opened?.versionTable);
      options.logger.info(`dumping ${display} at version ${version ?? "base"}`);
      result = await writeDumpFile(ex, tmp, {
        header: [
          "strata logical backup",
          `source: ${display}`,
          `created: ${createdAt.toISOString()}`,
          `version: ${version ?? "base"}`,
          `strata: ${buildInfo.version}`,
        ],
        skipRowsOf: [lockTableOf(options.table)],
        logger: options.logger,
        onProgress: (rows, bytes, table) => progress.update(rows, bytes, table),
      });
    } catch (e) {
      throw e instanceof StrataError ? e : isDiskFull(e) ? diskFullError(options.dir, `a dump of ${display}`, e) : describeDbError(e, display);
    } finally {
      tx?.close();
      client.close();
    }
    progress.end();
    options.logger.info(`dumped ${result.rows} rows (${formatBytes(result.size)}); verifying`);
    await verifyDump(tmp, result.tables, options.dir, options.logger, [lockTableOf(options.table)]);
    return await finish(options, label, tmp, "dump", createdAt, started, {
      version,
      tables: result.tables,
      rows: result.rows,
      journalMode: null,
      sha256: result.sha256,
      size: result.size,
    });
  } catch (e) {
    progress.end();
    removeQuietly(tmp);
    throw isDiskFull(e) && !(e instanceof StrataError) ? diskFullError(options.dir, `a dump of ${display}`, e) : e;
  }
}

/**
 * A read transaction makes the dump one consistent snapshot. "read" is BEGIN TRANSACTION
 * READONLY (libSQL); servers without it get BEGIN DEFERRED; without transactions at all, the dump
 * is taken statement by statement (and may mix states if the database is written meanwhile).
 */
async function readTransaction(client: Client, table: string, logger: Logger, display: string): Promise<{ tx: Transaction; versionTable: boolean } | undefined> {
  let last: unknown;
  for (const mode of ["read", "deferred"] as const) {
    let tx: Transaction | undefined;
    try {
      tx = await client.transaction(mode);
      // BEGIN is sent with the first statement, which also tells whether the version table exists.
      const rs = await tx.execute({ sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", args: [table] });
      return { tx, versionTable: Number(rs.rows[0]![0]) > 0 };
    } catch (e) {
      tx?.close();
      last = e;
    }
  }
  logger.warn(`${display} refused a read transaction (${messageOf(last)}); the dump is not a single snapshot if the database is written meanwhile`);
  return undefined;
}

/**
 * Loads a dump into a scratch database and checks it: every statement runs, the end marker is
 * there, the integrity check passes and the row counts match `expected`.
 */
export async function verifyDump(file: string, expected: Record<string, number>, scratchDir: string, logger: Logger, ignoreTables: string[] = []): Promise<Checked> {
  const size = fs.statSync(file).size;
  const scratchPath = size > MEMORY_VERIFY_LIMIT ? tempPathFor(path.join(scratchDir, "verify.db")) : undefined;
  const scratch = openClient(scratchPath ? fileUrl(scratchPath) : ":memory:", { intMode: "bigint" });
  const progress = new Progress(logger, "verify");
  try {
    if (scratchPath) await scratch.execute("PRAGMA journal_mode=OFF");
    let rowsLoaded = 0;
    const reader = new DumpReader(file, { onBytes: (bytes) => progress.update(rowsLoaded, bytes) });
    const replayed = await replay(scratch, reader.statements(), { displayUrl: "scratch database", onProgress: (_s, rows) => (rowsLoaded = rows) });
    if (!reader.trailer) {
      throw new StrataError("state", `${file} is incomplete: its end marker is missing`, { file, hint: "the dump was cut short; take the backup again" });
    }
    if (reader.trailer.statements !== reader.statementsRead || reader.trailer.rows !== replayed.rows) {
      throw new StrataError("state", `${file} does not match its end marker (${reader.statementsRead} statements and ${replayed.rows} rows read, marker says ${reader.trailer.statements} and ${reader.trailer.rows})`, { file });
    }
    const problems = await integrityProblems(scratch);
    if (problems.length > 0) throw new StrataError("state", `${file} loads into a database that fails the integrity check: ${problems[0]}`, { file });
    const tables = await countRows(scratch, await dataTables(scratch));
    const mismatches = countMismatches(expected, tables, ignoreTables);
    if (mismatches.length > 0) {
      throw new StrataError("state", `${file} does not load back the rows that were dumped: ${mismatches.slice(0, 5).join("; ")}`, { file });
    }
    const rows = Object.values(tables).reduce((a, b) => a + b, 0);
    return { version: null, tables, rows, foreignKeyViolations: await hasForeignKeyViolations(scratch) };
  } catch (e) {
    if (e instanceof StrataError) throw e;
    if (scratchPath && isDiskFull(e)) throw diskFullError(scratchDir, `a scratch copy to verify ${file}`, e);
    throw new StrataError("state", `${file} cannot be loaded: ${messageOf(e)}`, { file, cause: e });
  } finally {
    progress.end();
    scratch.close();
    if (scratchPath) removeDbFiles(scratchPath);
  }
}

// ----------------------------------------------------------------------------------- finishing

async function finish(
  options: CreateBackupOptions,
  label: string,
  tmp: string,
  kind: BackupKind,
  createdAt: Date,
  started: number,
  facts: BackupFacts,
): Promise<CreatedBackup> {
  const final = await installUnique(tmp, options.dir, backupBaseName(label, utcStamp(createdAt), facts.version, options.reason), EXTENSION[kind]);
  await fsyncDir(options.dir);
  const manifest = manifestOf(options, final, kind, createdAt, started, facts);
  let manifestPath: string;
  try {
    manifestPath = await writeManifest(final, manifest);
  } catch (e) {
    removeQuietly(final); // a backup without its manifest could be neither restored nor pruned
    throw e;
  }
  return { path: final, manifestPath, manifest };
}

export type BackupFacts = Pick<Manifest, "version" | "tables" | "rows" | "journalMode" | "sha256" | "size">;

/** The manifest of the backup `file` of `source`, taken for `reason`. */
export function manifestOf(source: { url: string; table: string; reason: BackupReason }, file: string, kind: BackupKind, createdAt: Date, started: number, facts: BackupFacts): Manifest {
  return {
    format: "strata-backup",
    formatVersion: 1,
    kind,
    file: path.basename(file),
    database: databaseLabel(source.url),
    source: redactUrl(source.url),
    version: facts.version,
    table: source.table,
    reason: source.reason,
    sha256: facts.sha256,
    size: facts.size,
    tables: facts.tables,
    rows: facts.rows,
    journalMode: facts.journalMode,
    strataVersion: buildInfo.version,
    createdAt: createdAt.toISOString(),
    durationMs: Date.now() - started,
  };
}

/**
 * Moves `tmp` to `<base><ext>`, or `<base>-2<ext>`… when a backup of the same second exists.
 * A hard link never replaces an existing file, so two backups racing cannot clobber each other.
 */
async function installUnique(tmp: string, dir: string, base: string, ext: string): Promise<string> {
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    const file = path.join(dir, name + ext);
    if (fs.existsSync(path.join(dir, name + ".json"))) continue;
    const linked = await linkUnder(tmp, file);
    if (linked === "taken") continue;
    if (linked === "linked") {
      await fs.promises.unlink(tmp);
      return file;
    }
    // No hard links on this file system: rename (the existence check above must do).
    if (fs.existsSync(file)) continue;
    await fs.promises.rename(tmp, file);
    return file;
  }
}

/**
 * A second name for `src` as `<base><ext>` (or `<base>-2<ext>`…), for a safety backup that is the
 * replaced file itself; undefined when this file system cannot link it there.
 */
export async function linkUnique(src: string, dir: string, base: string, ext: string): Promise<string | undefined> {
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    const file = path.join(dir, name + ext);
    if (fs.existsSync(path.join(dir, name + ".json"))) continue;
    const linked = await linkUnder(src, file);
    if (linked === "linked") return file;
    if (linked === "unsupported") return undefined;
  }
}

async function linkUnder(src: string, file: string): Promise<"linked" | "taken" | "unsupported"> {
  try {
    await fs.promises.link(src, file);
    return "linked";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return "taken";
    if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EXDEV") return "unsupported";
    throw e;
  }
}
