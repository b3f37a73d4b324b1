/**
 * Durable file handling for backups and restores: temp names in the target's own folder (so the
 * final rename is atomic), fsync of files and folders, streaming sha256, mode 0600.
 */
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import process from "node:process";
import { createHash, randomBytes } from "node:crypto";
import { Buffer } from "node:buffer";
import { StrataError } from "../errors.ts";

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Who owns a temp file, beside its pid: this machine's name and, on Linux, the PID namespace (a
 * container on the same host sees other pids), as letters, digits, `_` and `-`.
 */
export const HOST_TAG = (os.hostname().replace(/[^A-Za-z0-9-]+/g, "_").slice(0, 64) || "host") + pidNamespaceTag();

function pidNamespaceTag(): string {
  try {
    const inode = /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[1];
    return inode ? `-ns${inode}` : "";
  } catch {
    return ""; // not Linux
  }
}

/**
 * A hidden temp name next to `finalPath`, unique to this process and call, naming its owner so a
 * later run can tell a killed run's leftovers from a running one's:
 * `.<name>.<pid>@<host>.<random>.strata-tmp` (SQLite may add `-journal`, `-wal`, `-shm`).
 */
export function tempPathFor(finalPath: string): string {
  const dir = path.dirname(finalPath);
  return path.join(dir, `.${path.basename(finalPath)}.${process.pid}@${HOST_TAG}.${randomBytes(4).toString("hex")}.strata-tmp`);
}

/** Parses a name written by tempPathFor (or one of SQLite's side files of it). */
export function parseTempName(name: string): { pid: number; host: string } | undefined {
  const m = /^\..+\.(\d+)@([A-Za-z0-9_-]+)\.[0-9a-f]{8}\.strata-tmp(?:-journal|-wal|-shm)?$/.exec(name);
  return m ? { pid: Number(m[1]), host: m[2]! } : undefined;
}

export async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.promises.open(file, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Runs `work` while `file` is fsynced. The fsync is handed to the runtime's I/O thread before
 * `work` starts, so it overlaps even a `work` that keeps this thread busy (SQLite reading the
 * same file); both have ended when this returns, whichever failed.
 */
export async function fsyncWhile<T>(file: string, work: () => Promise<T>): Promise<T> {
  const fh = await fs.promises.open(file, "r+");
  const durable = fh.sync();
  durable.catch(() => undefined); // awaited after `work`: its failure must not cut `work` short
  try {
    const result = await work();
    await durable;
    return result;
  } finally {
    await durable.catch(() => undefined);
    await fh.close();
  }
}

/** Makes a rename durable. Some platforms cannot open folders: best effort there. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, "r");
    await fh.sync();
  } catch {
    /* EISDIR / EPERM / EINVAL on platforms without directory fsync */
  } finally {
    await fh?.close();
  }
}

export function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

export interface Digest {
  sha256: string;
  size: number;
}

/** Three reused buffers per pass: memory stays flat whatever the file size (no garbage to collect). */
const CHUNK = 1 << 20;
const BUFFERS = 3;

/**
 * Reads `fh` from its start to its end in chunks and hands each to `use` in order, with its
 * offset. `use` may return a promise that keeps the chunk's buffer busy (a write in flight): the
 * buffer is read into again only once it settled, two chunks later. So reading the next chunk,
 * handling this one (hashing) and finishing the ones before (writing) overlap; a copy costs about
 * its slowest part instead of their sum. Returns the bytes read once every `use` has settled, and
 * fails if one failed; nothing is in flight after, either way.
 */
async function eachChunk(fh: fs.promises.FileHandle, use: (chunk: Buffer, offset: number) => Promise<unknown> | void): Promise<number> {
  const bufs = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafe(CHUNK));
  const busy: (Promise<unknown> | undefined)[] = new Array(BUFFERS).fill(undefined);
  let size = 0;
  let i = 0;
  let pending = fh.read(bufs[0]!, 0, CHUNK, 0);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) {
        await Promise.all(busy);
        return size;
      }
      const chunk = bufs[i]!.subarray(0, bytesRead);
      const offset = size;
      size += bytesRead;
      const next = (i + 1) % BUFFERS;
      await busy[next];
      pending = fh.read(bufs[next]!, 0, CHUNK, size);
      pending.catch(() => undefined); // awaited next turn; not "unhandled" if `use` throws first
      const work = use(chunk, offset);
      work?.catch(() => undefined); // awaited when its buffer comes round, or below
      busy[i] = work ?? undefined;
      i = next;
    }
  } finally {
    // A failure leaves nothing running that still uses a buffer or the caller's files.
    await Promise.allSettled([pending, ...busy]);
  }
}

/** An open file: a path (opened and closed here) or a handle the caller keeps (heldOpen). */
export type Readable = string | fs.promises.FileHandle;

const heldOpen = new Map<string, fs.promises.FileHandle>();

/**
 * A read handle on a database file that SQLite may lock, kept open for the rest of the process.
 * Closing any descriptor of a file drops every POSIX lock this process holds on it, including
 * SQLite's (its own connections, and ones closed but not yet freed, which SQLite still counts
 * as holding them: a later connection would then trust a lock the kernel no longer has). SQLite
 * keeps its own such descriptors open for the same reason. One per file (device and inode).
 */
export async function heldHandle(file: string): Promise<fs.promises.FileHandle> {
  const st = fs.statSync(file);
  const known = heldOpen.get(`${st.dev}:${st.ino}`);
  if (known) return known;
  const fh = await fs.promises.open(file, "r");
  const real = await fh.stat();
  // Replaced between the two calls: keep this one too, under what it really is.
  return heldOpen.get(`${real.dev}:${real.ino}`) ?? (heldOpen.set(`${real.dev}:${real.ino}`, fh), fh);
}

async function withReadable<T>(file: Readable, use: (fh: fs.promises.FileHandle) => Promise<T>): Promise<T> {
  if (typeof file !== "string") return use(file);
  const fh = await fs.promises.open(file, "r");
  try {
    return await use(fh);
  } finally {
    await fh.close();
  }
}

/** sha256 and size of a file, streamed; `onBytes` sees the running total. */
export async function hashFile(file: Readable, onBytes?: (bytes: number) => void): Promise<Digest> {
  const hash = createHash("sha256");
  let done = 0;
  return withReadable(file, async (fh) => {
    const size = await eachChunk(fh, (chunk) => {
      hash.update(chunk);
      onBytes?.((done += chunk.length));
    });
    return { sha256: hash.digest("hex"), size };
  });
}

/**
 * Copies `src` to a new file `dest` (mode 0600, must not exist), hashing exactly the bytes
 * written, in one pass, and fsyncs it unless `sync` is false (a caller that changes the copy
 * fsyncs after).
 */
export async function copyHashed(src: Readable, dest: string, onBytes?: (bytes: number) => void, sync = true): Promise<Digest> {
  const hash = createHash("sha256");
  let done = 0;
  return withReadable(src, async (input) => {
    const output = await fs.promises.open(dest, "wx", FILE_MODE);
    // Each chunk written at its own offset, while the next ones are read and hashed.
    const writeAt = async (chunk: Buffer, offset: number): Promise<void> => {
      for (let written = 0; written < chunk.length; ) written += (await output.write(chunk, written, chunk.length - written, offset + written)).bytesWritten;
      onBytes?.((done += chunk.length));
    };
    try {
      const size = await eachChunk(input, (chunk, offset) => {
        hash.update(chunk);
        return writeAt(chunk, offset);
      });
      if (sync) await output.sync();
      return { sha256: hash.digest("hex"), size };
    } finally {
      await output.close();
    }
  });
}

/** Writes a small file atomically: temp in the same folder, fsync, rename, fsync the folder. */
export async function writeFileAtomic(file: string, data: string, mode = FILE_MODE): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    await fs.promises.writeFile(tmp, data, { flag: "wx", mode });
    await fsyncFile(tmp);
    await fs.promises.rename(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw e;
  }
  await fsyncDir(path.dirname(file));
}

/** Removes a file and the journal files SQLite may have left beside it. Never throws. */
export function removeDbFiles(file: string): void {
  for (const f of [file, `${file}-journal`, `${file}-wal`, `${file}-shm`]) removeQuietly(f);
}

export function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    /* already gone, or not ours to remove */
  }
}

/** ENOSPC/EDQUOT from the file system, or SQLITE_FULL from SQLite writing a file: the folder is full. */
export function isDiskFull(e: unknown): boolean {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL") return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** The error for a full folder: names the folder being written, not the database being read. */
export function diskFullError(folder: string, writing: string, e: unknown): StrataError {
  return new StrataError("failure", `no space left in ${folder} while writing ${writing}`, {
    hint: "free space there or write elsewhere (--out / STRATA_BACKUP_DIR); nothing was changed and the partial file was removed",
    cause: e,
  });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
