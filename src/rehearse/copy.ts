/**
 * The copy a rehearsal runs on: a backup (src/backup) into a private scratch folder — a
 * consistent snapshot of a local file, or a logical dump of a remote database (one read
 * transaction: nothing is written to the server) loaded into a local file. The original is
 * only ever read.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createDbClient } from "../db/connection.ts";
import { DumpReader, replay } from "../backup/replay.ts";
import { fileUrl } from "../backup/db.ts";
import { DIR_MODE } from "../backup/files.ts";
import { createBackup, type BackupSource } from "../backup/create.ts";
import type { BackupKind } from "../backup/manifest.ts";
import type { Logger } from "../output/logger.ts";

export interface RehearsalCopy {
  /** The local SQLite file migrations run on. */
  file: string;
  /** How it was made: a snapshot of a local file, or a dump of a remote database. */
  kind: BackupKind;
  /** The scratch folder holding it (removed afterwards unless kept). */
  dir: string;
  snapshotMs: number;
}

export async function makeCopy(source: BackupSource, logger: Logger, workDir: string | undefined): Promise<RehearsalCopy> {
  const started = Date.now();
  const dir = workDir ? path.resolve(workDir) : fs.mkdtempSync(path.join(os.tmpdir(), "strata-rehearse-"));
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const made = await createBackup({ ...source, dir, reason: "manual", logger });
  const kind = made.manifest.kind;
  if (kind === "snapshot") return { file: made.path, kind, dir, snapshotMs: Date.now() - started };
  const file = made.path.replace(/\.sql$/, ".db");
  const client = createDbClient(fileUrl(file), { intMode: "bigint" });
  try {
    // A scratch copy: no journal needed while loading it.
    await client.execute("PRAGMA journal_mode = OFF");
    await replay(client, new DumpReader(made.path).statements(), { displayUrl: file });
    await client.execute("PRAGMA journal_mode = DELETE");
  } finally {
    client.close();
  }
  return { file, kind, dir, snapshotMs: Date.now() - started };
}
