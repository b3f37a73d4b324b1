/**
 * backup: a consistent online backup of the configured database, with its manifest, and
 * optionally pruning older backups of the same database.
 */
import { StrataError } from "../errors.ts";
import { requireUrl, resolveSettings } from "../config/settings.ts";
import { silentLogger } from "../output/logger.ts";
import { formatBytes } from "../backup/files.ts";
import { createBackup } from "../backup/create.ts";
import { pruneBackups } from "../backup/prune.ts";
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
  const pruned = options.keep !== undefined ? await pruneBackups(dir, m.database, m.source, options.keep, logger) : [];
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
    pruned,
  };
}

/** `--wait`: first wait until the database answers (as every command does). */
export async function waitUntilReachable(options: CommandOptions): Promise<void> {
  if (options.waitMs === undefined) return;
  await withSession(options, { write: false, needFiles: false }, async () => {});
}
