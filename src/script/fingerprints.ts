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
 * Where: two small JSON files per migrations folder (its checksums, and its listing) in the
 * user's cache directory ($XDG_CACHE_HOME/strata, else ~/.cache/strata; ~/Library/Caches/strata
 * on macOS), never in
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

/** A migration as discovery lists it: its files are upPath and, when another, downPath. */
export interface ListedMigration {
  upPath: string;
  downPath?: string;
  checksum: string;
}

/** The files a listed migration stands for, in the order their stats are given to get(). */
function filesOf(m: ListedMigration): string[] {
  return m.downPath === undefined || m.downPath === m.upPath ? [m.upPath] : [m.upPath, m.downPath];
}

/**
 * The folder's last validated listing, in a file of its own (the only one a no-op start-up
 * reads): the names in readdir order and what discovery made of them, so that a run seeing the
 * same names only stats and compares — no parsing, grouping or sorting of 400 names in Bun's cold
 * interpreter. Self-contained: every file behind it, with its stamp.
 */
interface ListingFile<T> {
  format: 3;
  dir: string;
  /** The folder as discovery spells its paths (a listing made through another spelling is not used). */
  prefix: string;
  /** The names joined with "/", which no file name contains: one comparison. */
  names: string;
  /** What discovery made of the names, as it returns it. */
  items: T[];
  /** Four numbers for each file behind the items, in order (see filesOf). */
  stamps: number[];
}

interface CacheFile {
  format: 3;
  dir: string;
  entries: Record<string, Entry>;
}

const RACY_MS = 2000;
/** Folders remembered at most (one or two files each); the oldest go first. */
const MAX_FILES = 400;

function cacheRoot(): string | undefined {
  const xdg = process.env["XDG_CACHE_HOME"];
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "strata");
  const home = process.env["HOME"];
  if (!home || !path.isAbsolute(home)) return undefined;
  return process.platform === "darwin" ? path.join(home, "Library", "Caches", "strata") : path.join(home, ".cache", "strata");
}

/** Does `stamp` (as remembered) describe exactly these stats, from `offset` on? */
function sameStamp(stamp: number[], offset: number, st: fs.Stats): boolean {
  return stamp[offset] === st.size && stamp[offset + 1] === st.mtimeMs && stamp[offset + 2] === st.ctimeMs && stamp[offset + 3] === st.ino;
}

function sameStamps(stamp: unknown, stats: fs.Stats[]): boolean {
  if (!Array.isArray(stamp) || stamp.length !== stats.length * 4) return false;
  for (let i = 0; i < stats.length; i++) if (!sameStamp(stamp, 4 * i, stats[i]!)) return false;
  return true;
}

function stampOf(stats: fs.Stats[]): number[] {
  const stamp: number[] = [];
  for (const st of stats) stamp.push(st.size, st.mtimeMs, st.ctimeMs, st.ino);
  return stamp;
}

export class ChecksumCache {
  private readonly entriesFile: string | undefined;
  private readonly listingFile: string | undefined;
  private read: CacheFile | undefined | null = null;
  private readonly next: Record<string, Entry> = {};
  /** The files behind each key looked up this run, as get() was given them. */
  private readonly pathsOf = new Map<string, string[]>();
  private dirty = false;
  private readonly dir: string;
  private readonly racyMs: number;
  private newListing: ListingFile<unknown> | undefined;

  private constructor(dir: string, racyMs: number) {
    this.dir = dir;
    this.racyMs = racyMs;
    const root = cacheRoot();
    const name = nameHash(dir);
    this.entriesFile = root && path.join(root, `checksums-${name}.json`);
    this.listingFile = root && path.join(root, `listing-${name}.json`);
  }

  /** The remembered entries, read on first use (a reused listing never needs them). */
  private get old(): Record<string, Entry> {
    if (this.read === null) this.read = this.entriesFile ? readJson<CacheFile>(this.entriesFile, this.dir) : undefined;
    return this.read?.entries ?? {};
  }

  /**
   * The remembered listing when the folder holds exactly the same names (same readdir order) and
   * every file behind it is a regular file with the remembered identity; undefined otherwise.
   */
  listing<T extends ListedMigration>(prefix: string, names: string[]): T[] | undefined {
    const old = this.listingFile ? readJson<ListingFile<T>>(this.listingFile, this.dir) : undefined;
    if (old === undefined || old.prefix !== prefix || old.names !== names.join("/")) return undefined;
    const { items, stamps } = old;
    if (!Array.isArray(items) || !Array.isArray(stamps)) return undefined;
    // filesOf() and sameStamp() written out: a helper called for each of 400 files is compiled
    // by Bun's JIT, which costs more in a ~20 ms run than interpreting it.
    // (Nor an inner loop over the one or two files: its iterations count towards compiling this one.)
    let at = 0;
    for (let i = 0; i < items.length; i++) {
      const m = items[i]!;
      let st = fs.statSync(m.upPath, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile() || stamps[at] !== st.size || stamps[at + 1] !== st.mtimeMs || stamps[at + 2] !== st.ctimeMs || stamps[at + 3] !== st.ino) return undefined;
      at += 4;
      if (m.downPath === undefined || m.downPath === m.upPath) continue;
      st = fs.statSync(m.downPath, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile() || stamps[at] !== st.size || stamps[at + 1] !== st.mtimeMs || stamps[at + 2] !== st.ctimeMs || stamps[at + 3] !== st.ino) return undefined;
      at += 4;
    }
    return at === stamps.length ? items : undefined;
  }

  /**
   * Remembers what discovery made of `names`, when every migration's files are remembered as
   * get() saw them. Only the full walk calls this, and it runs only when listing() found
   * something different.
   */
  rememberListing<T extends ListedMigration>(prefix: string, names: string[], items: T[]): void {
    const stamps: number[] = [];
    for (const m of items) {
      const entry = this.next[m.upPath];
      const seen = this.pathsOf.get(m.upPath);
      const files = filesOf(m);
      if (entry === undefined || entry.checksum !== m.checksum || seen === undefined || seen.join("\0") !== files.join("\0")) return;
      stamps.push(...entry.stamp);
    }
    this.newListing = { format: 3, dir: this.dir, prefix, names: names.join("/"), items, stamps };
  }

  /** `racyMs`: how old a file must be to be remembered (tests shorten it). */
  static for(dir: string, racyMs = RACY_MS): ChecksumCache {
    return new ChecksumCache(dir, racyMs);
  }

  /**
   * The remembered value for `key` when its files (`paths`, and `stats` from the caller's stat of
   * each) are unchanged; otherwise `compute` runs (reading the files) and its result is
   * remembered unless the files are too fresh.
   */
  get(key: string, paths: string[], stats: fs.Stats[], compute: () => Remembered): Remembered {
    this.pathsOf.set(key, paths);
    const hit = this.old[key];
    if (hit !== undefined && typeof hit.checksum === "string" && sameStamps(hit.stamp, stats)) {
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

  /** Writes what changed (entries added or gone, a new listing). Never throws. */
  save(): void {
    if (!this.entriesFile || !this.listingFile) return;
    const entriesChanged = this.dirty || Object.keys(this.next).length !== Object.keys(this.old).length;
    try {
      if (entriesChanged || this.newListing) {
        const root = path.dirname(this.entriesFile);
        fs.mkdirSync(root, { recursive: true, mode: 0o700 });
        if (this.read === undefined) prune(root);
      }
      if (entriesChanged) writeAtomically(this.entriesFile, { format: 3, dir: this.dir, entries: this.next } satisfies CacheFile);
      // Only the full walk saves, so an old listing did not match: replaced, or removed.
      if (this.newListing) writeAtomically(this.listingFile, this.newListing);
      else fs.rmSync(this.listingFile, { force: true });
    } catch {
      // Only an optimisation: the next run hashes again.
    }
  }
}

/** Written aside and renamed: a concurrent reader sees the old file or the new one. */
function writeAtomically(file: string, data: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
  fs.renameSync(tmp, file);
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

/** A cache file of this format for this folder, or undefined (missing, corrupt, older, another folder's). */
function readJson<T extends { format: number; dir: string }>(file: string, dir: string): T | undefined {
  try {
    const data = JSON.parse(fs.readFileSync(file, "utf8")) as T;
    // The file name is a hash of the folder: a collision or an older format is simply not used.
    if (typeof data !== "object" || data === null || data.format !== 3 || data.dir !== dir) return undefined;
    if ("entries" in data && (typeof data.entries !== "object" || data.entries === null)) return undefined;
    return data;
  } catch {
    return undefined;
  }
}

/** Keeps the cache directory bounded: temp folders used once would otherwise pile up. */
function prune(root: string): void {
  const names = fs.readdirSync(root).filter((n) => n.startsWith("checksums-") || n.startsWith("listing-"));
  if (names.length < MAX_FILES) return;
  const aged = names.map((n) => {
    const full = path.join(root, n);
    return { full, at: fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? 0 };
  });
  aged.sort((a, b) => a.at - b.at);
  for (const { full } of aged.slice(0, names.length - MAX_FILES / 2)) fs.rmSync(full, { force: true });
}
