/**
 * `--keep N`: removes all but the newest N backups of one database, and only what strata wrote:
 * a backup counts as "of this database" when its manifest names the same database and source,
 * and its file passes backupFileOf (exact backup name, inside the folder after symlinks). Before
 * a file is removed its size and sha256 must match the manifest. Anything else is skipped with a
 * warning; "pruned" is said only of files that are gone.
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../output/logger.ts";
import { backupFileOf, listManifests, type Manifest } from "./manifest.ts";
import { fsyncDir, hashFile, removeQuietly } from "./files.ts";

export interface PruneResult {
  pruned: string[];
  /** Manifests left alone, with the reason. */
  skipped: { manifest: string; reason: string }[];
}

export async function pruneBackups(dir: string, label: string, source: string, keep: number, logger: Logger): Promise<PruneResult> {
  const skipped: PruneResult["skipped"] = [];
  const skip = (manifest: string, reason: string) => {
    skipped.push({ manifest, reason });
    logger.warn(`not pruning ${path.basename(manifest)}: ${reason}`);
  };
  const mine: { manifestPath: string; file: string; manifest: Manifest }[] = [];
  for (const { path: manifestPath, manifest } of listManifests(dir)) {
    if (manifest.database !== label || manifest.source !== source) continue;
    const found = backupFileOf(manifestPath, manifest);
    if ("problem" in found) skip(manifestPath, found.problem);
    else mine.push({ manifestPath, file: found.file, manifest });
  }
  mine.sort((a, b) => (a.manifest.createdAt < b.manifest.createdAt ? 1 : a.manifest.createdAt > b.manifest.createdAt ? -1 : a.manifest.file < b.manifest.file ? 1 : -1));
  const pruned: string[] = [];
  for (const { manifestPath, file, manifest } of mine.slice(keep)) {
    const digest = await hashFile(file);
    if (digest.size !== manifest.size || digest.sha256 !== manifest.sha256) {
      skip(manifestPath, `${path.basename(file)} does not match its manifest (size or sha256): not the file strata wrote`);
      continue;
    }
    // The data file first: a manifest without its file is harmless, the reverse is not prunable.
    removeQuietly(file);
    if (fs.existsSync(file)) {
      logger.warn(`could not remove old backup ${file}`);
      continue;
    }
    removeQuietly(manifestPath);
    pruned.push(file);
    logger.info(`pruned ${path.basename(file)} (${manifest.createdAt}, version ${manifest.version ?? "base"})`);
  }
  if (pruned.length > 0) await fsyncDir(dir);
  return { pruned, skipped };
}
