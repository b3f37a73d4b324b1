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
  /** The `.down.sql` file (SQL), or the module itself when it exports `down` (TS); absent when there is none. */
  downPath?: string;
  /** sha256 over the migration's files. */
  checksum: string;
}

const FILE_FORM = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*?)\.(up\.sql|down\.sql|ts|mts)$/;
/** Cheap test for a TS module's `down` export, so planning needs no import. */
const EXPORTS_DOWN = /export\s+(?:async\s+)?function\s+down\b|export\s+(?:const|let)\s+down\b|export\s*\{[^}]*\bdown\b/;

/** A version's number as a string without leading zeros: `0042` and `42` are one version. */
export function versionKey(version: string): string {
  // A loop, not a regex: this runs for every file and row of a no-op start-up.
  let i = 0;
  while (i < version.length - 1 && version.charCodeAt(i) === 48) i++;
  return i === 0 ? version : version.slice(i);
}

/**
 * Numeric order of digit strings of any length, without BigInt: sorting and reconciling 200
 * versions made ~3,000 BigInts per run, a measurable part of a no-op start-up. Digit strings of
 * one length compare as text, leading zeros or not.
 */
export function compareVersions(a: string, b: string): number {
  if (a.length !== b.length) {
    a = versionKey(a);
    b = versionKey(b);
    if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Lists and checks the folder: names, pairs, duplicates, kinds of entries, checksums. File
 * contents are parsed later, when a step is loaded — before anything runs (src/script/load.ts).
 * Checksums of files unchanged since an earlier run come from ./fingerprints.ts.
 */
export function discoverMigrations(dir: string): MigrationFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new StrataError("migrations", `migrations folder ${dir} does not exist`, {
        hint: "create it with `strata new <message>`, or point --dir / STRATA_DIR at your migrations",
      });
    }
    throw new StrataError("migrations", `cannot read migrations folder ${dir}: ${code}`, { hint: "check its permissions" });
  }

  // path.join(dir, name) for every name, joined once: the names are single path segments.
  const base = path.join(dir);
  const prefix = base === "." ? "" : base.endsWith(path.sep) ? base : base + path.sep;
  const cache = ChecksumCache.for(path.resolve(dir));
  // As remembered, not copied: a migration without a down file has no downPath key either way.
  const listed = cache.listing<MigrationFile>(prefix, names);
  if (listed !== undefined) return listed;

  interface Group { version: string; name: string; up?: string; down?: string; ts?: string; stats: Partial<Record<"up" | "down" | "ts", fs.Stats>> }
  const groups = new Map<string, Group>();
  const unknown: string[] = [];
  const problems: string[] = [];

  for (const name of names) {
    if (name.charCodeAt(0) === 46) continue; // .gitkeep, editor files
    const m = FILE_FORM.exec(name);
    if (!m) {
      unknown.push(name);
      continue;
    }
    const full = prefix + name;
    // One stat per file (following symlinks) says what it is and, for ./fingerprints.ts, whether it changed.
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(full, { throwIfNoEntry: false });
    } catch {
      st = undefined; // a symlink loop, no permission: fileKind() says which
    }
    if (st === undefined || !st.isFile()) {
      problems.push(`${name} is ${st === undefined ? fileKind(full) : st.isDirectory() ? "a directory" : "not a regular file"}`);
      continue;
    }
    const [, version, slug, ext] = m as unknown as [string, string, string, string];
    const key = versionKey(version);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { version, name: slug, stats: {} }));
    else if (g.name !== slug || g.version !== version) {
      problems.push(`version ${version} is used twice: ${describe(g)} and ${name}`);
      continue;
    }
    const slot = ext === "up.sql" ? "up" : ext === "down.sql" ? "down" : "ts";
    g[slot] = full;
    g.stats[slot] = st;
  }

  if (unknown.length > 0) {
    throw new StrataError("migrations", `unrecognized file(s) in ${dir}: ${unknown.sort().join(", ")}`, {
      hint: "migration files are <version>_<name>.up.sql, <version>_<name>.down.sql or <version>_<name>.ts",
    });
  }
  const result: { key: string; file: MigrationFile }[] = [];
  for (const [key, g] of groups) {
    if (g.ts && (g.up || g.down)) problems.push(`version ${g.version} has both a .ts module and .sql files`);
    else if (g.down && !g.up) problems.push(`${path.basename(g.down)} has no matching .up.sql`);
    else if (g.ts) result.push({ key, file: tsMigration(g.version, g.name, g.ts, [g.stats.ts!], cache) });
    else if (g.up) result.push({ key, file: sqlMigration(g.version, g.name, g.up, g.down, g.down ? [g.stats.up!, g.stats.down!] : [g.stats.up!], cache) });
  }
  if (problems.length > 0) {
    throw new StrataError("migrations", `invalid migrations folder ${dir}: ${problems.join("; ")}`, {
      hint: "each version must appear once, as one SQL pair or one .ts module",
    });
  }
  // Keys are versions without leading zeros, unique: shorter first, then as text.
  result.sort((a, b) => (a.key.length !== b.key.length ? a.key.length - b.key.length : a.key < b.key ? -1 : 1));
  const files = result.map((r) => r.file);
  cache.rememberListing(prefix, names, files);
  cache.save();
  return files;
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

function sqlMigration(version: string, name: string, up: string, down: string | undefined, stats: fs.Stats[], cache: ChecksumCache): MigrationFile {
  const { checksum } = cache.get(up, down ? [up, down] : [up], stats, () => ({
    checksum: down ? sha256Hex(readFile(up), "\0down\0", readFile(down)) : sha256Hex(readFile(up)),
  }));
  return down ? { version, name, kind: "sql", upPath: up, downPath: down, checksum } : { version, name, kind: "sql", upPath: up, checksum };
}

function tsMigration(version: string, name: string, file: string, stats: fs.Stats[], cache: ChecksumCache): MigrationFile {
  const { checksum, down } = cache.get(file, [file], stats, () => {
    const content = readFile(file);
    return { checksum: sha256Hex(content), down: EXPORTS_DOWN.test(content.toString("utf8")) };
  });
  return down ? { version, name, kind: "ts", upPath: file, downPath: file, checksum } : { version, name, kind: "ts", upPath: file, checksum };
}
