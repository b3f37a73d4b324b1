/**
 * The manifest beside every backup (`<name>.json`): what was backed up, from where, at which
 * migration version, and the checksum restore verifies before it changes anything.
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError, messageOf } from "../errors.ts";
import { writeFileAtomic } from "./files.ts";
import { isBackupFileName, type BackupReason } from "./naming.ts";

export const MANIFEST_FORMAT = "strata-backup";
export const MANIFEST_VERSION = 1;

/** `snapshot`: an SQLite database file (local source); `dump`: an SQL text file (remote source). */
export type BackupKind = "snapshot" | "dump";

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  formatVersion: number;
  kind: BackupKind;
  /** File name of the backup, in the manifest's folder. */
  file: string;
  /** The `<db>` label of the name: database file name or remote host. */
  database: string;
  /** The database URL, redacted. */
  source: string;
  /** Migration version the backup is at; null at base. */
  version: string | null;
  /** strata's version table in that database. */
  table: string;
  reason: BackupReason;
  sha256: string;
  size: number;
  /** Rows per table (strata's lock table is never carried over). */
  tables: Record<string, number>;
  rows: number;
  /** Journal mode of the source (local snapshots), so a restore can keep it. */
  journalMode: string | null;
  strataVersion: string;
  createdAt: string;
  durationMs: number;
  /** Set when the backup is a raw file copy (a safety copy of a database SQLite could not read). */
  raw?: boolean;
}

export function manifestPathOf(backupFile: string): string {
  return backupFile.replace(/\.(db|sql)$/, "") + ".json";
}

export async function writeManifest(backupFile: string, manifest: Manifest): Promise<string> {
  const file = manifestPathOf(backupFile);
  await writeFileAtomic(file, JSON.stringify(manifest, null, 2) + "\n");
  return file;
}

/** Reads and checks the manifest of `backupFile`; a clear error when it is missing or malformed. */
export function readManifest(backupFile: string): Manifest {
  const file = manifestPathOf(backupFile);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new StrataError("state", code === "ENOENT" ? `backup ${backupFile} has no manifest (${path.basename(file)})` : `cannot read manifest ${file}: ${code ?? messageOf(e)}`, {
      file,
      hint: "restore needs the manifest strata wrote beside the backup to verify it; keep the .json with its backup",
    });
  }
  let data: Partial<Manifest>;
  try {
    data = JSON.parse(text) as Partial<Manifest>;
  } catch (e) {
    throw new StrataError("state", `manifest ${file} is not valid JSON: ${messageOf(e)}`, { file, hint: "the manifest was damaged; the backup cannot be verified" });
  }
  const problems: string[] = [];
  if (data.format !== MANIFEST_FORMAT) problems.push(`format is not "${MANIFEST_FORMAT}"`);
  if (data.kind !== "snapshot" && data.kind !== "dump") problems.push("kind");
  if (typeof data.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(data.sha256)) problems.push("sha256");
  if (typeof data.size !== "number") problems.push("size");
  if (typeof data.tables !== "object" || data.tables === null) problems.push("tables");
  if (typeof data.table !== "string") problems.push("table");
  if (problems.length > 0) {
    throw new StrataError("state", `manifest ${file} is not a strata backup manifest (bad ${problems.join(", ")})`, {
      file,
      hint: "the manifest was damaged or belongs to another tool; the backup cannot be verified",
    });
  }
  // The only path a manifest holds must be the backup it sits beside; it is never followed.
  if (data.file !== path.basename(backupFile)) {
    throw new StrataError("state", `manifest ${file} describes ${JSON.stringify(data.file)}, not ${path.basename(backupFile)}`, {
      file,
      hint: "a manifest belongs to the backup strata wrote it for; keep both under the names strata gave them",
    });
  }
  const ext = path.extname(backupFile);
  if ((data.kind === "snapshot") !== (ext === ".db")) {
    throw new StrataError("state", `backup ${backupFile} does not match its manifest (kind ${data.kind})`, { file });
  }
  return data as Manifest;
}

/**
 * The backup file the manifest at `manifestPath` describes, when it is one strata wrote there: its
 * name is exactly a backup name of the manifest's database (no separator, no `..`), the manifest
 * is `<same name>.json`, and it is a regular file inside the manifest's folder after symlinks.
 * Otherwise the reason it is not, and the file must not be touched.
 */
export function backupFileOf(manifestPath: string, manifest: Manifest): { file: string } | { problem: string } {
  const dir = path.dirname(manifestPath);
  const name = manifest.file;
  if (typeof name !== "string" || typeof manifest.database !== "string" || !isBackupFileName(name, manifest.database)) {
    return { problem: `its file ${JSON.stringify(name)} is not a name strata gives backups of ${JSON.stringify(manifest.database)}` };
  }
  const file = path.join(dir, name);
  if (manifestPathOf(file) !== manifestPath) return { problem: `it describes ${name}, which is not the backup of that name` };
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    return { problem: `${name} is not there (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})` };
  }
  if (!st.isFile()) return { problem: `${name} is ${st.isSymbolicLink() ? "a symbolic link" : "not a regular file"}` };
  try {
    if (path.dirname(fs.realpathSync(file)) !== fs.realpathSync(dir)) return { problem: `${name} resolves outside ${dir}` };
  } catch (e) {
    return { problem: `${name} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})` };
  }
  return { file };
}

/** Manifests in `dir` (unreadable or foreign ones are skipped), with their own path. */
export function listManifests(dir: string): { path: string; manifest: Manifest }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: { path: string; manifest: Manifest }[] = [];
  for (const name of names) {
    if (!name.endsWith(".json") || name.startsWith(".")) continue;
    try {
      const m = JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as Manifest;
      if (m.format === MANIFEST_FORMAT && typeof m.file === "string") out.push({ path: path.join(dir, name), manifest: m });
    } catch {
      /* not ours */
    }
  }
  return out;
}
