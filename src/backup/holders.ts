/**
 * Who else has a local database open: a restore must not swap the file under a running app
 * (its next writes would go to the old, unlinked file and be lost).
 *
 * Two checks: BEGIN IMMEDIATE with a short busy timeout (SQLITE_BUSY: a writer is active), and,
 * on Linux, /proc/<pid>/fd (any process with the file or its -wal open, even idle), which also
 * names the process. The /proc scan is best effort: other users' processes may be invisible.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { messageOf } from "../errors.ts";
import { fileUrl, openClient } from "./db.ts";

export interface Holder {
  pid: number;
  command: string;
}

/** Processes other than this one with `file` (or its -wal/-shm/-journal) open. */
export function openHandles(file: string): Holder[] {
  if (process.platform !== "linux") return [];
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
    if (/SQLITE_BUSY|database is locked/i.test(messageOf(e))) return true;
    throw e;
  } finally {
    client.close();
  }
}

export function describeHolders(holders: Holder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.command})`).join(", ");
}
