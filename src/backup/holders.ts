/**
 * Who else has a local database open: a restore must not swap the file under a running app
 * (its next writes would go to the old, unlinked file and be lost).
 *
 * Three checks: BEGIN IMMEDIATE with a short busy timeout (SQLITE_BUSY: a writer is active); on
 * Linux, /proc/<pid>/fd (any process with the file or its -wal open, even idle), which also names
 * the process; and, for what /proc cannot show (another PID namespace such as a container sharing
 * the volume, another user's processes, other systems), SQLite's own locks: lockForSwap.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import type { Client } from "@libsql/client";
import { StrataError } from "../errors.ts";
import { fileUrl, openClient } from "./db.ts";

/** `STRATA_PROC_SCAN=off` turns the /proc scan off (tests use it to stand for an invisible holder). */
export const PROC_SCAN_ENV = "STRATA_PROC_SCAN";

export interface Holder {
  pid: number;
  command: string;
}

/** Processes other than this one with `file` (or its -wal/-shm/-journal) open. */
export function openHandles(file: string): Holder[] {
  if (process.platform !== "linux" || process.env[PROC_SCAN_ENV] === "off") return [];
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    real = path.resolve(file);
  }
  const targets = new Set([real, `${real}-wal`, `${real}-shm`, `${real}-journal`]);
  const holders: Holder[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (targets.has(link)) {
        holders.push({ pid, command: commandOf(pid) });
        break;
      }
    }
  }
  return holders;
}

function commandOf(pid: number): string {
  try {
    const text = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    return text.length > 120 ? text.slice(0, 117) + "…" : text;
  } catch {
    return "?";
  }
}

/** Whether another connection holds (or is taking) the write lock right now. */
export async function writerActive(file: string, busyTimeoutMs = 250): Promise<boolean> {
  if (!fs.existsSync(file)) return false;
  const client = openClient(fileUrl(file), { busyTimeoutMs, intMode: "number" });
  try {
    const tx = await client.transaction("write");
    try {
      await tx.rollback();
    } finally {
      tx.close();
    }
    return false;
  } catch (e) {
    if (isBusy(e)) return true;
    throw e;
  } finally {
    client.close();
  }
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

export interface SwapLock {
  /** The connection holding the lock: the only one that can read the database meanwhile. */
  client: Client;
  /** Releases the lock; `reopenWal` puts a WAL database back into WAL mode (when it stays in place). */
  release(reopenWal: boolean): Promise<void>;
}

/**
 * Takes an exclusive SQLite lock on `target` and holds it until release: no other connection can
 * read or write it meanwhile, and the lock cannot be had while another connection holds one.
 * What that detects: on a WAL database every open connection (even idle) holds a shared lock, so
 * leaving WAL mode, which the exclusive lock needs, fails while any other connection is open; on a
 * rollback-journal database, a connection inside a read or write transaction. An idle connection
 * to a rollback-journal database holds no lock and is invisible here (the /proc scan sees it when
 * it runs in this PID namespace). Throws "lock" when the lock cannot be had within `busyTimeoutMs`.
 */
export async function lockForSwap(target: string, busyTimeoutMs: number): Promise<SwapLock> {
  // Connections this process closed keep their locks until they are garbage-collected (libsql
  // frees the native connection with its last statement): collect them before blaming others.
  await collectGarbage();
  try {
    return await takeSwapLock(target, busyTimeoutMs);
  } catch (e) {
    if (!isBusy(e)) throw e;
    throw new StrataError("lock", `${target} is in use: SQLite reports a lock held by another connection (a process strata cannot list, e.g. in another container or of another user)`, {
      hint: "stop every app using the database first, then run restore again",
      cause: e,
    });
  }
}

async function takeSwapLock(target: string, busyTimeoutMs: number): Promise<SwapLock> {
  const client: Client = openClient(fileUrl(target), { busyTimeoutMs, intMode: "number" });
  let wasWal = false;
  try {
    // Reading rolls back a hot journal; leaving WAL checkpoints it into the file and removes it.
    wasWal = String((await client.execute("PRAGMA journal_mode")).rows[0]?.[0]).toLowerCase() === "wal";
    if (wasWal) await client.execute("PRAGMA journal_mode=DELETE");
    // The client keeps its one connection between calls: in exclusive locking mode it keeps the
    // EXCLUSIVE lock BEGIN EXCLUSIVE took until it is closed.
    await client.executeMultiple("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;");
  } catch (e) {
    // Give back whatever was taken (closing alone may not, see release) and the WAL mode.
    await client.executeMultiple(`PRAGMA locking_mode=NORMAL; ${wasWal ? "PRAGMA journal_mode=WAL;" : "SELECT count(*) FROM sqlite_master;"}`).catch(() => undefined);
    client.close();
    throw e;
  }
  return {
    client,
    release: async (reopenWal) => {
      try {
        // Back to normal locking: the lock goes at the next access (closing alone does not
        // release it at once: the native connection may outlive close()).
        await client.executeMultiple(`PRAGMA locking_mode=NORMAL; ${reopenWal && wasWal ? "PRAGMA journal_mode=WAL;" : "SELECT count(*) FROM sqlite_master;"}`);
      } finally {
        client.close();
      }
    },
  };
}

/** A full garbage collection where the runtime allows one (Bun.gc, V8's gc on Node); else nothing. */
async function collectGarbage(): Promise<void> {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  try {
    if (bun) bun.gc(true);
    else {
      v8.setFlagsFromString("--expose-gc");
      (vm.runInNewContext("gc") as () => void)();
    }
  } catch {
    /* no way to collect here: the retry below sees what it sees */
  }
  await new Promise((resolve) => setTimeout(resolve, 20)); // native finalizers run after the collection
}

export function describeHolders(holders: Holder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.command})`).join(", ");
}
