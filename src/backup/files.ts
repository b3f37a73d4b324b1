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

/** One reused buffer per copy: memory stays flat whatever the file size (no garbage to collect). */
const CHUNK = 1 << 20;

/** sha256 and size of a file, streamed; `onBytes` sees the running total. */
export async function hashFile(file: string, onBytes?: (bytes: number) => void): Promise<Digest> {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  const fh = await fs.promises.open(file, "r");
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
      onBytes?.(size);
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * Copies `src` to a new file `dest` (mode 0600, must not exist), hashing exactly the bytes
 * written, and fsyncs it.
 */
export async function copyHashed(src: string, dest: string, onBytes?: (bytes: number) => void): Promise<Digest> {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  const input = await fs.promises.open(src, "r");
  try {
    const output = await fs.promises.open(dest, "wx", FILE_MODE);
    try {
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        let written = 0;
        while (written < bytesRead) written += (await output.write(chunk, written, bytesRead - written)).bytesWritten;
        size += bytesRead;
        onBytes?.(size);
      }
      await output.sync();
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
  return { sha256: hash.digest("hex"), size };
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
