/**
 * `--keep N`: removes all but the newest N backups of one database. A backup counts as "of this
 * database" only when its name starts with `<db>-<stamp>-` AND its manifest names the same
 * source; files without a readable manifest are never touched.
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../output/logger.ts";
import { listManifests } from "./manifest.ts";
import { namePattern } from "./naming.ts";
import { fsyncDir, removeQuietly } from "./files.ts";

export async function pruneBackups(dir: string, label: string, source: string, keep: number, logger: Logger): Promise<string[]> {
  const pattern = namePattern(label);
  const mine = listManifests(dir)
    .filter(({ path: p, manifest: m }) => pattern.test(path.basename(p)) && pattern.test(m.file) && m.database === label && m.source === source)
    .sort((a, b) => (a.manifest.createdAt < b.manifest.createdAt ? 1 : a.manifest.createdAt > b.manifest.createdAt ? -1 : a.manifest.file < b.manifest.file ? 1 : -1));
  const pruned: string[] = [];
  for (const { path: manifestPath, manifest } of mine.slice(keep)) {
    const file = path.join(dir, manifest.file);
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
  return pruned;
}
