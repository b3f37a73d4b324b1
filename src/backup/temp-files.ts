/**
 * Leftovers of killed runs: a backup or restore killed with SIGKILL (a cron timeout, a systemd
 * stop) cannot remove its temp file, which is as big as the database. Every backup, restore and
 * prune run sweeps the folders it works in and removes temp files whose owner (pid@host and PID
 * namespace in the name, see tempPathFor) is gone. Files of a live process, or of another host or
 * container sharing the folder, are left alone and only reported.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import type { Logger } from "../output/logger.ts";
import { HOST_TAG, formatBytes, parseTempName, removeQuietly } from "./files.ts";

export interface TempSweep {
  /** Stale temp files removed (their owner is gone). */
  removed: string[];
  removedBytes: number;
  /** Temp files left in place: their owner is running, or on another host. */
  kept: string[];
  keptBytes: number;
}

/** Whether the process that wrote a temp file is certainly gone. */
export function ownerGone(pid: number, host: string): boolean {
  if (host !== HOST_TAG) return false; // another machine or container on a shared volume: cannot tell
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH"; // EPERM: alive, another user's
  }
}

/** Removes stale strata temp files in `dirs`, and says so in one line. Never throws. */
export function sweepStaleTempFiles(dirs: string[], logger: Logger): TempSweep {
  const out: TempSweep = { removed: [], removedBytes: 0, kept: [], keptBytes: 0 };
  for (const dir of new Set(dirs.map((d) => path.resolve(d)))) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = parseTempName(name);
      if (!owner) continue;
      const file = path.join(dir, name);
      let size: number;
      try {
        const st = fs.lstatSync(file);
        if (!st.isFile()) continue;
        size = st.size;
      } catch {
        continue;
      }
      if (ownerGone(owner.pid, owner.host)) {
        removeQuietly(file);
        if (fs.existsSync(file)) continue;
        out.removed.push(file);
        out.removedBytes += size;
      } else {
        out.kept.push(file);
        out.keptBytes += size;
      }
    }
  }
  if (out.removed.length > 0) {
    logger.info(`removed ${out.removed.length} stale temp file${out.removed.length === 1 ? "" : "s"} (${formatBytes(out.removedBytes)}) left by killed strata runs in ${[...new Set(out.removed.map((f) => path.dirname(f)))].join(", ")}`);
  }
  if (out.kept.length > 0) {
    logger.info(`${out.kept.length} temp file${out.kept.length === 1 ? "" : "s"} (${formatBytes(out.keptBytes)}) belong to running strata processes or other hosts; left in place`);
  }
  return out;
}
