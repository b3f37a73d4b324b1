/**
 * restore: replaces the configured database with a backup taken by `strata backup`, after
 * verifying the backup and taking a safety backup of what is there now.
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError } from "../errors.ts";
import { isRemoteUrl, requireUrl, resolveSettings } from "../config/settings.ts";
import { parseDuration } from "../config/duration.ts";
import { silentLogger } from "../output/logger.ts";
import { readManifest, type BackupKind } from "../backup/manifest.ts";
import { resolveBackupDir } from "../backup/naming.ts";
import { restoreLocal, type RestorePlan } from "../backup/restore.ts";
import { restoreRemote } from "../backup/restore-remote.ts";
import { sweepStaleTempFiles, type TempSweep } from "../backup/temp-files.ts";
import { foldersOf, waitUntilReachable } from "./backup.ts";
import type { CommandOptions } from "./context.ts";

export type { RestorePlan };

export interface RestoreOptions extends CommandOptions {
  /** The backup file (.db or .sql) with its manifest beside it. */
  file: string;
  /** Do not ask. Without it, `confirm` must be given. */
  yes?: boolean | undefined;
  /** Remote: replace a non-empty database (its objects are dropped after the safety backup). */
  force?: boolean | undefined;
  /** Folder for the safety backup (default ./backups, env STRATA_BACKUP_DIR). */
  out?: string | undefined;
  /** Local: how long to wait for other processes to close the database: 30, 30s, 2m (default 0). */
  closeTimeout?: string | undefined;
  confirm?: (plan: RestorePlan) => Promise<boolean>;
}

export interface RestoreResult {
  database: string;
  restored: string;
  kind: BackupKind;
  backupVersion: string | null;
  backupCreatedAt: string;
  /** The migration version the database is at now. */
  version: string | null;
  safetyBackup: string | null;
  tables: Record<string, number>;
  rows: number;
  forced: boolean;
  durationMs: number;
  /** Temp files of killed runs removed before the restore, and those of live runs left alone. */
  tempFiles: TempSweep;
}

export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const logger = options.logger ?? silentLogger;
  if (!options.yes && !options.confirm) {
    throw new StrataError("usage", "restore replaces the database and needs confirmation", { hint: "pass --yes" });
  }
  const started = Date.now();
  const file = path.resolve(options.file);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new StrataError("usage", `backup file ${file} does not exist`, { hint: "pass a .db or .sql file written by `strata backup`" });
  }
  const manifest = readManifest(file);
  await waitUntilReachable(options);
  const settings = resolveSettings(options);
  const url = requireUrl(settings);
  if (url === ":memory:") throw new StrataError("usage", "cannot restore into an in-memory database");
  const dir = resolveBackupDir(options.out);
  const tempFiles = sweepStaleTempFiles(foldersOf(url, dir), logger);
  const ctx = {
    file,
    manifest,
    url,
    authToken: settings.authToken,
    table: settings.table,
    dir,
    force: options.force ?? false,
    waitMs: options.closeTimeout !== undefined ? parseDuration(options.closeTimeout, "--close-timeout") : 0,
    busyTimeoutMs: Math.max(settings.lockTimeoutMs, 1000),
    logger,
    confirm: async (plan: RestorePlan) => {
      if (options.yes) return;
      if (!(await options.confirm!(plan))) throw new StrataError("usage", "not confirmed; nothing was changed", { hint: "pass --yes to skip the question" });
    },
  };
  logger.info(`restoring ${path.basename(file)} (${manifest.kind}, version ${manifest.version ?? "base"}, taken ${manifest.createdAt} from ${manifest.source})`);
  const out = isRemoteUrl(url) ? await restoreRemote(ctx) : await restoreLocal(ctx);
  logger.info(`restored ${out.rows} rows into ${out.database}; it is at version ${out.version ?? "base"}`);
  return {
    database: out.database,
    restored: file,
    kind: manifest.kind,
    backupVersion: manifest.version,
    backupCreatedAt: manifest.createdAt,
    version: out.version,
    safetyBackup: out.safetyBackup,
    tables: out.tables,
    rows: out.rows,
    forced: ctx.force,
    durationMs: Date.now() - started,
    tempFiles,
  };
}
