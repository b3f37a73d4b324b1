/**
 * Where backups go and what they are called: `<db>-<UTC stamp>-<version|base>[-<reason>].<db|sql>`
 * in ./backups (or --out / STRATA_BACKUP_DIR), with `<name>.json`, the manifest, beside each.
 */
import path from "node:path";
import process from "node:process";
import { StrataError } from "../errors.ts";
import { localPathOf } from "../db/connection.ts";

export const BACKUP_DIR_ENV = "STRATA_BACKUP_DIR";
export const DEFAULT_BACKUP_DIR = "backups";

/** Why a backup was taken: by hand, or as a safety net before a restore or a deploy. */
export type BackupReason = "manual" | "pre-restore" | "pre-deploy";

export function resolveBackupDir(out: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const fromEnv = env[BACKUP_DIR_ENV];
  return path.resolve(cwd, out ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_BACKUP_DIR));
}

/** The `<db>` part of a backup name: the file name without extension, or the remote host name. */
export function databaseLabel(url: string): string {
  const local = localPathOf(url);
  let label: string;
  if (local !== undefined) label = path.basename(local).replace(/\.[^.]*$/, "");
  else if (url === ":memory:") throw new StrataError("usage", "an in-memory database cannot be backed up");
  else label = new URL(url).hostname;
  label = label.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[.-]+/, "");
  return label === "" ? "db" : label;
}

/** `20240115T090000Z`: sortable, and safe in file names everywhere. */
export function utcStamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

export function backupBaseName(label: string, stamp: string, version: string | null, reason: BackupReason): string {
  return `${label}-${stamp}-${version ?? "base"}${reason === "manual" ? "" : `-${reason}`}`;
}

/**
 * Exactly the names strata gives the backups of the database called `label` (backupBaseName,
 * `-N` when a backup of the same second exists, `unknown` for a raw safety copy), and no other:
 * no path separator, no `..`, nothing after the extension.
 */
export function isBackupFileName(name: string, label: string): boolean {
  if (name.includes("/") || name.includes("\\") || name.includes("..") || name.includes("\0")) return false;
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${escaped}-\\d{8}T\\d{6}Z-(?:\\d+|base|unknown)(?:-pre-restore|-pre-deploy)?(?:-\\d+)?\\.(?:db|sql)$`).test(name);
}

export const EXTENSION = { snapshot: ".db", dump: ".sql" } as const;
