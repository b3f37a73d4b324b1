/**
 * status, current and history: read-only commands. Each reads the database in one round trip.
 */
import os from "node:os";
import { StrataError } from "../errors.ts";
import { processAlive } from "../platform/process.ts";
import type { LockRow } from "../runtime/store.ts";
import { currentVersion, reconcile } from "../runtime/plan.ts";
import { withSession, type CommandOptions } from "./context.ts";
import { infoOf, statusOf, type MigrationInfo, type StatusResult } from "./status-view.ts";

export type { MigrationInfo, StatusResult };

/** Why a lock is stale — the same rules the engine uses to take one over — or null. */
function staleness(lock: LockRow): "lease expired" | "process is gone" | null {
  if (lock.expired) return "lease expired";
  return lock.host === os.hostname() && !processAlive(lock.pid) ? "process is gone" : null;
}

export async function status(options: CommandOptions): Promise<StatusResult> {
  return withSession(options, { write: false }, async (s) => {
    const state = await s.engine.readState();
    return statusOf(s.db.displayUrl, s.db.exists, s.files, state.applied, state.lock ? { ...state.lock, stale: staleness(state.lock) } : null);
  });
}

export interface CurrentResult {
  database: string;
  current: string | null;
  name: string | null;
  isHead: boolean;
}

export async function current(options: CommandOptions): Promise<CurrentResult> {
  return withSession(options, { write: false }, async (s) => {
    const state = await s.engine.readState();
    const entries = reconcile(s.files, state.applied);
    const cur = currentVersion(entries);
    const entry = entries.find((e) => e.version === cur);
    const head = s.files.at(-1)?.version;
    return { database: s.db.displayUrl, current: cur ?? null, name: entry?.name ?? null, isHead: cur !== undefined && cur === head && entries.every((e) => e.state !== "pending") };
  });
}

export interface HistoryOptions extends CommandOptions {
  /** Show the audit log instead of the migration list. */
  log?: boolean | undefined;
  limit?: number | undefined;
}

export interface HistoryResult {
  database: string | null;
  migrations: MigrationInfo[];
  log?: Awaited<ReturnType<import("../runtime/migrator.ts").Engine["readLog"]>>;
}

/**
 * The migration list in order with each one's state. Without a database URL it lists the files
 * alone (like `alembic history`, which needs no database).
 */
export async function history(options: HistoryOptions): Promise<HistoryResult> {
  if (options.log) {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1) throw new StrataError("usage", `--limit must be a positive whole number`);
    return withSession(options, { write: false, needFiles: false }, async (s) => ({
      database: s.db.displayUrl,
      migrations: [],
      log: await s.engine.readLog(limit),
    }));
  }
  try {
    return await withSession(options, { write: false }, async (s) => {
      const state = await s.engine.readState();
      return { database: s.db.displayUrl, migrations: infoOf(reconcile(s.files, state.applied)) };
    });
  } catch (e) {
    if (!(e instanceof StrataError && e.kind === "config" && /no database URL/.test(e.message))) throw e;
    const { assertGivenPathExists, resolveSettings } = await import("../config/settings.ts");
    const { discoverMigrations } = await import("../script/discover.ts");
    const settings = resolveSettings(options);
    assertGivenPathExists(settings, "dir");
    const files = discoverMigrations(settings.dir);
    return { database: null, migrations: infoOf(reconcile(files, [])) };
  }
}

