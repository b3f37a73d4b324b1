/**
 * Finding migration files. A folder holds SQL pairs (`<version>_<slug>.up.sql` + optional
 * `.down.sql`) and TypeScript modules (`<version>_<slug>.ts`). Everything that does not fit is
 * reported here, before anything runs.
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError } from "../errors.ts";
import { sha256Hex } from "./hash.ts";
import { ChecksumCache } from "./fingerprints.ts";

export type MigrationKind = "sql" | "ts";

export interface MigrationFile {
  /** Digits as written in the file name. */
  version: string;
  /** The slug after the version. */
  name: string;
  kind: MigrationKind;
  upPath: string;
  /** The `.down.sql` file (SQL), or the module itself when it exports `down` (TS). */
  downPath: string | undefined;
  /** sha256 over the migration's files. */
  checksum: string;
}

const FILE_FORM = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*?)\.(up\.sql|down\.sql|ts|mts)$/;
/** Cheap test for a TS module's `down` export, so planning needs no import. */
const EXPORTS_DOWN = /export\s+(?:async\s+)?function\s+down\b|export\s+(?:const|let)\s+down\b|export\s*\{[^}]*\bdown\b/;

/** A version's number as a string without leading zeros: `0042` and `42` are one version. */
export function versionKey(version: string): string {
  return version.replace(/^0+(?=\d)/, "");
}

/**
 * Numeric order of digit strings of any length, without BigInt: sorting and reconciling 200
 * versions made ~3,000 BigInts per run, a measurable part of a no-op start-up.
 */
export function compareVersions(a: string, b: string): number {
  const x = versionKey(a);
  const y = versionKey(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Lists and checks the folder: names, pairs, duplicates, kinds of entries, checksums. File
 * contents are parsed later, when a step is loaded — before anything runs (src/script/load.ts).
 * Checksums of files unchanged since an earlier run come from ./fingerprints.ts.
 */
export function discoverMigrations(dir: string): MigrationFile[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new StrataError("migrations", `migrations folder ${dir} does not exist`, {
        hint: "create it with `strata new <message>`, or point --dir / STRATA_DIR at your migrations",
      });
    }
    throw new StrataError("migrations", `cannot read migrations folder ${dir}: ${code}`, { hint: "check its permissions" });
  }

  interface Group { version: string; name: string; up?: string; down?: string; ts?: string }
  const groups = new Map<string, Group>();
  const unknown: string[] = [];
  const problems: string[] = [];

  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue; // .gitkeep, editor files
    const full = path.join(dir, entry.name);
    const m = FILE_FORM.exec(entry.name);
    if (!m) {
      unknown.push(entry.name);
      continue;
    }
    // Only symlinks need a stat: the directory entry already says what the rest are.
    const kind = entry.isFile() ? "file" : entry.isDirectory() ? "a directory" : entry.isSymbolicLink() ? fileKind(full) : "not a regular file";
    if (kind !== "file") {
      problems.push(`${entry.name} is ${kind}`);
      continue;
    }
    const [, version, name, ext] = m as unknown as [string, string, string, string];
    const key = versionKey(version);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { version, name }));
    else if (g.name !== name || g.version !== version) {
      problems.push(`version ${version} is used twice: ${describe(g)} and ${entry.name}`);
      continue;
    }
    const slot = ext === "up.sql" ? "up" : ext === "down.sql" ? "down" : "ts";
    g[slot] = full;
  }

  if (unknown.length > 0) {
    throw new StrataError("migrations", `unrecognized file(s) in ${dir}: ${unknown.sort().join(", ")}`, {
      hint: "migration files are <version>_<name>.up.sql, <version>_<name>.down.sql or <version>_<name>.ts",
    });
  }
  const result: MigrationFile[] = [];
  const cache = ChecksumCache.for(path.resolve(dir));
  for (const g of groups.values()) {
    if (g.ts && (g.up || g.down)) problems.push(`version ${g.version} has both a .ts module and .sql files`);
    else if (g.down && !g.up) problems.push(`${path.basename(g.down)} has no matching .up.sql`);
    else if (g.ts) result.push(tsMigration(g.version, g.name, g.ts, cache));
    else if (g.up) result.push(sqlMigration(g.version, g.name, g.up, g.down, cache));
  }
  if (problems.length > 0) {
    throw new StrataError("migrations", `invalid migrations folder ${dir}: ${problems.join("; ")}`, {
      hint: "each version must appear once, as one SQL pair or one .ts module",
    });
  }
  cache.save();
  return result.sort((a, b) => compareVersions(a.version, b.version));
}

function describe(g: { up?: string; down?: string; ts?: string }): string {
  return path.basename(g.up ?? g.ts ?? g.down ?? "?");
}

function fileKind(full: string): string {
  try {
    const st = fs.statSync(full); // follows symlinks: a loop fails with ELOOP
    return st.isFile() ? "file" : st.isDirectory() ? "a directory" : "not a regular file";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ELOOP" ? "a symlink loop" : code === "ENOENT" ? "a broken symlink" : `unreadable (${code})`;
  }
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new StrataError("migrations", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, {
      file,
      hint: "check the file's permissions",
    });
  }
}

function sqlMigration(version: string, name: string, up: string, down: string | undefined, cache: ChecksumCache): MigrationFile {
  const { checksum } = cache.get(up, down ? [up, down] : [up], () => ({
    checksum: down ? sha256Hex(readFile(up), "\0down\0", readFile(down)) : sha256Hex(readFile(up)),
  }));
  return { version, name, kind: "sql", upPath: up, downPath: down, checksum };
}

function tsMigration(version: string, name: string, file: string, cache: ChecksumCache): MigrationFile {
  const { checksum, down } = cache.get(file, [file], () => {
    const content = readFile(file);
    return { checksum: sha256Hex(content), down: EXPORTS_DOWN.test(content.toString("utf8")) };
  });
  return { version, name, kind: "ts", upPath: file, downPath: down ? file : undefined, checksum };
}
