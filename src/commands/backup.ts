/**
 * backup: a consistent online backup of the configured database, with its manifest, and
 * optionally pruning older backups of the same database.
 */
import path from "node:path";
import { StrataError } from "../errors.ts";
import { requireUrl, resolveSettings } from "../config/settings.ts";
import { silentLogger } from "../output/logger.ts";
import { formatBytes } from "../backup/files.ts";
import { createBackup } from "../backup/create.ts";
import { pruneBackups, type PruneResult } from "../backup/prune.ts";
import { sweepStaleTempFiles, type TempSweep } from "../backup/temp-files.ts";
import { localPathOf } from "../db/connection.ts";
import { resolveBackupDir, type BackupReason } from "../backup/naming.ts";
import type { BackupKind } from "../backup/manifest.ts";
import { withSession, type CommandOptions } from "./context.ts";

export interface BackupOptions extends CommandOptions {
  /** Backup folder (default ./backups, env STRATA_BACKUP_DIR). */
  out?: string | undefined;
  /** Keep only the newest N backups of this database. */
  keep?: number | undefined;
  reason?: BackupReason;
}

export interface BackupResult {
  database: string;
  kind: BackupKind;
  path: string;
  manifest: string;
  size: number;
  sha256: string;
  version: string | null;
  tables: Record<string, number>;
  rows: number;
  durationMs: number;
  pruned: string[];
  /** Manifests --keep left alone (not strata's, or not matching their file), with the reason. */
  pruneSkipped: PruneResult["skipped"];
  /** Temp files of killed runs removed before the backup, and those of live runs left alone. */
  tempFiles: TempSweep;
}

export async function backup(options: BackupOptions): Promise<BackupResult> {
  const logger = options.logger ?? silentLogger;
  if (options.keep !== undefined && (!Number.isInteger(options.keep) || options.keep < 1)) {
    throw new StrataError("usage", `--keep must be a positive whole number, got ${options.keep}`);
  }
  const started = Date.now();
  await waitUntilReachable(options);
  const settings = resolveSettings(options);
  const url = requireUrl(settings);
  const dir = resolveBackupDir(options.out);
  const tempFiles = sweepStaleTempFiles(foldersOf(url, dir), logger);
  const made = await createBackup({
    url,
    authToken: settings.authToken,
    table: settings.table,
    busyTimeoutMs: Math.max(settings.lockTimeoutMs, 1000),
    dir,
    reason: options.reason ?? "manual",
    logger,
  });
  const m = made.manifest;
  logger.info(`backed up ${m.source} at version ${m.version ?? "base"}: ${m.rows} rows, ${formatBytes(m.size)} -> ${made.path}`);
  const pruned = options.keep !== undefined ? await pruneBackups(dir, m.database, m.source, options.keep, logger) : { pruned: [], skipped: [] };
  return {
    database: m.source,
    kind: m.kind,
    path: made.path,
    manifest: made.manifestPath,
    size: m.size,
    sha256: m.sha256,
    version: m.version,
    tables: m.tables,
    rows: m.rows,
    durationMs: Date.now() - started,
    pruned: pruned.pruned,
    pruneSkipped: pruned.skipped,
    tempFiles,
  };
}

/** The folders a backup or restore writes temp files in: the backup folder and the database's. */
export function foldersOf(url: string, backupDir: string): string[] {
  const local = localPathOf(url);
  return local !== undefined ? [backupDir, path.dirname(path.resolve(local))] : [backupDir];
}

/** `--wait`: first wait until the database answers (as every command does). */
export async function waitUntilReachable(options: CommandOptions): Promise<void> {
  if (options.waitMs === undefined) return;
  await withSession(options, { write: false, needFiles: false }, async () => {});
}
