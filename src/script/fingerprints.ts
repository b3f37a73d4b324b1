/**
 * Checksums of migration files remembered by each file's identity (size, mtime, ctime, inode),
 * so that a run where nothing changed does not read and hash every file: 400 reads and hashes
 * are ~3 ms of a ~15 ms no-op `up`, and stat calls are ~100× cheaper. A file whose identity
 * differs from the remembered one is read and hashed again, so the checksum comparison with the
 * version table keeps its meaning. Any write to a file moves its ctime, which no tool can set
 * back (mtime can be); a file changed within the last 2 s is not remembered at all, because
 * file systems stamp times coarsely (a jiffy, or 1–2 s) and a second write in the same tick
 * would otherwise look unchanged (git calls this "racy").
 *
 * Where: one small JSON file per migrations folder in the user's cache directory
 * ($XDG_CACHE_HOME/strata, else ~/.cache/strata; ~/Library/Caches/strata on macOS), never in
 * the project or the database — a no-op run and `status` write nothing there. Whoever can write
 * that directory could make a changed file look unchanged; it is the user's own. The cache is an
 * optimisation only: unreadable, corrupt or unwritable, it is ignored.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

/** What is remembered for a migration: its checksum and, for TS modules, whether it exports down. */
export interface Remembered {
  checksum: string;
  down?: boolean;
}

interface Entry extends Remembered {
  /** size, mtimeMs, ctimeMs, inode of each file, in order: numbers, so a lookup formats none. */
  stamp: number[];
}

/** A migration as discovery lists it: the files behind it and what they hold. */
export interface ListedMigration {
  kind: string;
  upPath: string;
  downPath?: string | undefined;
  checksum: string;
}

/**
 * The folder's last validated listing: its names in readdir order and what discovery made of
 * them, so that a run seeing the same names only stats and compares (no parsing, grouping or
 * sorting of 400 names in Bun's cold interpreter, ~10 M instructions of a no-op start-up).
 */
interface Listing<T> {
  /** The folder as the paths in `files` spell it (a listing made through another spelling is not used). */
  prefix: string;
  names: string[];
  files: T[];
}

interface CacheFile {
  format: 2;
  dir: string;
  entries: Record<string, Entry>;
  listing?: Listing<unknown>;
}

const RACY_MS = 2000;
/** Cache files kept at most (one per migrations folder seen); the oldest go first. */
const MAX_FILES = 200;

function cacheRoot(): string | undefined {
  const xdg = process.env["XDG_CACHE_HOME"];
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "strata");
  const home = process.env["HOME"];
  if (!home || !path.isAbsolute(home)) return undefined;
  return process.platform === "darwin" ? path.join(home, "Library", "Caches", "strata") : path.join(home, ".cache", "strata");
}

/** Does `stamp` (as remembered) describe exactly these stats? */
function sameStamp(stamp: unknown, stats: fs.Stats[]): boolean {
  if (!Array.isArray(stamp) || stamp.length !== stats.length * 4) return false;
  for (let i = 0; i < stats.length; i++) {
    const st = stats[i]!;
    if (stamp[4 * i] !== st.size || stamp[4 * i + 1] !== st.mtimeMs || stamp[4 * i + 2] !== st.ctimeMs || stamp[4 * i + 3] !== st.ino) return false;
  }
  return true;
}

function stampOf(stats: fs.Stats[]): number[] {
  const stamp: number[] = [];
  for (const st of stats) stamp.push(st.size, st.mtimeMs, st.ctimeMs, st.ino);
  return stamp;
}

export class ChecksumCache {
  private readonly file: string | undefined;
  private readonly old: Record<string, Entry>;
  private readonly next: Record<string, Entry> = {};
  private dirty = false;
  private readonly existed: boolean;
  private readonly dir: string;
  private readonly racyMs: number;
  private readonly oldListing: Listing<unknown> | undefined;
  private newListing: Listing<unknown> | undefined;

  private constructor(dir: string, racyMs: number) {
    this.dir = dir;
    this.racyMs = racyMs;
    const root = cacheRoot();
    this.file = root && path.join(root, `checksums-${nameHash(dir)}.json`);
    const read = this.file ? readCache(this.file, dir) : undefined;
    this.existed = read !== undefined;
    this.old = read?.entries ?? {};
    this.oldListing = read?.listing;
  }

  /**
   * The remembered listing when the folder holds exactly the same names (same readdir order) and
   * every file behind it is a regular file with the remembered identity; undefined otherwise.
   */
  listing<T extends ListedMigration>(prefix: string, names: string[]): T[] | undefined {
    const old = this.oldListing;
    if (old === undefined || old.prefix !== prefix || !Array.isArray(old.names) || !Array.isArray(old.files) || old.names.length !== names.length) return undefined;
    for (let i = 0; i < names.length; i++) if (old.names[i] !== names[i]) return undefined;
    const stats: fs.Stats[] = [];
    for (const file of old.files as T[]) {
      const entry = this.old[file.upPath];
      if (entry === undefined || entry.checksum !== file.checksum) return undefined;
      stats.length = 0;
      for (const p of file.downPath === undefined || file.kind === "ts" ? [file.upPath] : [file.upPath, file.downPath]) {
        const st = fs.statSync(p, { throwIfNoEntry: false });
        if (st === undefined || !st.isFile()) return undefined;
        stats.push(st);
      }
      if (!sameStamp(entry.stamp, stats)) return undefined;
    }
    this.newListing = old;
    for (const file of old.files as T[]) this.next[file.upPath] = this.old[file.upPath]!;
    return old.files as T[];
  }

  /**
   * Remembers what discovery made of `names`, when each of its files is remembered too. Only the
   * full walk calls this, and it runs only when listing() found something different, so the
   * cache is written.
   */
  rememberListing<T extends ListedMigration>(prefix: string, names: string[], files: T[]): void {
    if (!files.every((f) => this.next[f.upPath]?.checksum === f.checksum)) return;
    this.newListing = { prefix, names, files };
    this.dirty = true;
  }

  /** `racyMs`: how old a file must be to be remembered (tests shorten it). */
  static for(dir: string, racyMs = RACY_MS): ChecksumCache {
    return new ChecksumCache(dir, racyMs);
  }

  /**
   * The remembered value for `key` when its files (`stats`, from the caller's stat of each) are
   * unchanged; otherwise `compute` runs (reading the files) and its result is remembered unless
   * the files are too fresh.
   */
  get(key: string, stats: fs.Stats[], compute: () => Remembered): Remembered {
    const hit = this.old[key];
    if (hit !== undefined && typeof hit.checksum === "string" && sameStamp(hit.stamp, stats)) {
      this.next[key] = hit;
      return hit;
    }
    const value = compute();
    let changedAt = 0;
    for (const st of stats) changedAt = Math.max(changedAt, st.mtimeMs, st.ctimeMs);
    if (Date.now() - changedAt >= this.racyMs) {
      this.next[key] = { stamp: stampOf(stats), ...value };
      this.dirty = true;
    } else if (hit) {
      this.dirty = true; // the stale entry is dropped
    }
    return value;
  }

  /** Writes the cache when it changed (entries added, or files gone). Never throws. */
  save(): void {
    if (!this.file) return;
    if (!this.dirty && Object.keys(this.next).length === Object.keys(this.old).length) return;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      if (!this.existed) prune(path.dirname(this.file));
      const data: CacheFile = { format: 2, dir: this.dir, entries: this.next, ...(this.newListing ? { listing: this.newListing } : {}) };
      // Written aside and renamed: a concurrent reader sees the old file or the new one.
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch {
      // Only an optimisation: the next run hashes again.
    }
  }
}

/**
 * 64 bits of FNV-1a over the folder's path, for the file name: no crypto needed (and none loaded),
 * since the file also records the folder and is ignored for any other.
 */
function nameHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

function readCache(file: string, dir: string): CacheFile | undefined {
  try {
    const data = JSON.parse(fs.readFileSync(file, "utf8")) as CacheFile;
    // The file name is a hash of the folder: a collision or an older format is simply not used.
    if (data.format !== 2 || data.dir !== dir || typeof data.entries !== "object" || data.entries === null) return undefined;
    return data;
  } catch {
    return undefined;
  }
}

/** Keeps the cache directory bounded: temp folders used once would otherwise pile up. */
function prune(root: string): void {
  const names = fs.readdirSync(root).filter((n) => n.startsWith("checksums-"));
  if (names.length < MAX_FILES) return;
  const aged = names.map((n) => {
    const full = path.join(root, n);
    return { full, at: fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? 0 };
  });
  aged.sort((a, b) => a.at - b.at);
  for (const { full } of aged.slice(0, names.length - MAX_FILES / 2)) fs.rmSync(full, { force: true });
}
