/**
 * The consistent copy of a local database file behind a snapshot backup, by the cheapest method
 * that stays consistent while the app writes:
 *
 * - rollback journal (DELETE, TRUNCATE, PERSIST…): the file's bytes, copied and hashed in one
 *   pass inside a read transaction. Its SHARED lock keeps every writer from committing (a commit
 *   needs EXCLUSIVE), so the bytes are one committed state; readers go on. VACUUM INTO instead
 *   rebuilds every b-tree and blocks writers just as long, for 2–3× the time.
 * - WAL: `VACUUM INTO`, one read transaction over the database and its WAL, which does not block
 *   writers there (the file alone is not a committed state: frames may sit in the WAL).
 */
import fs from "node:fs";
import type { Client } from "@libsql/client";
import { FILE_MODE, copyHashed, heldHandle, type Digest } from "./files.ts";

export interface CopiedSnapshot {
  method: "file copy under a read lock" | "VACUUM INTO";
  /** The source's journal mode, lower case; null if SQLite did not say. */
  journalMode: string | null;
  /** sha256 and size of the copy when the method hashed it on the way (the file copy). */
  digest?: Digest;
}

/** Copies the database `file` open in `source` to the new file `dest` (mode 0600); the caller fsyncs it. */
export async function copySnapshot(source: Client, file: string, dest: string, onBytes?: (bytes: number) => void): Promise<CopiedSnapshot> {
  let journalMode: string | null;
  // Never closed: closing a descriptor of the file would drop SQLite's locks (see heldHandle).
  const fh = await heldHandle(file);
  const tx = await source.transaction("deferred");
  try {
    // The first read takes the SHARED lock (rolling back a hot journal first) and holds it
    // until the transaction ends; busy_timeout covers a writer that is committing right now.
    // Under that lock the journal mode cannot change either.
    await tx.execute("SELECT count(*) FROM sqlite_master");
    journalMode = String((await tx.execute("PRAGMA journal_mode")).rows[0]?.[0] ?? "").toLowerCase() || null;
    if (journalMode !== "wal") return { method: "file copy under a read lock", journalMode, digest: await copyHashed(fh, dest, onBytes, false) };
  } finally {
    tx.close(); // rolls the read transaction back: the lock goes
  }
  // VACUUM INTO accepts an existing empty file: creating it first gives it mode 0600.
  fs.writeFileSync(dest, "", { flag: "wx", mode: FILE_MODE });
  await source.execute({ sql: "VACUUM INTO ?", args: [dest] });
  return { method: "VACUUM INTO", journalMode };
}
