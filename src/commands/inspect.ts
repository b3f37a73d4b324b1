/**
 * status, current and history: read-only commands. Each reads the database in one round trip.
 */
import os from "node:os";
import { StrataError } from "../errors.ts";
import { processAlive } from "../platform/process.ts";
import type { LockRow } from "../runtime/store.ts";
import { blockingProblems, currentVersion, reconcile, type Entry, type EntryState } from "../runtime/plan.ts";
import { withSession, type CommandOptions } from "./context.ts";

export interface MigrationInfo {
  version: string;
  name: string;
  state: EntryState;
  kind: "sql" | "ts" | null;
  reversible: boolean;
  appliedAt: string | null;
  durationMs: number | null;
  outOfOrder: boolean;
  file: string | null;
  checksum: string | null;
}

export interface StatusResult {
  database: string;
  /** False when the database (file) does not exist yet. */
  exists: boolean;
  current: string | null;
  head: string | null;
  applied: MigrationInfo[];
  pending: MigrationInfo[];
  changed: string[];
  missing: string[];
  failed: string[];
  outOfOrder: string[];
  /** The run lock, when a row is there; `stale` says why the next run will take it over. */
  lock: (LockRow & { stale: "lease expired" | "process is gone" | null }) | null;
  /** One line per problem that makes `up` refuse, with its fix. */
  problems: string[];
}

function info(e: Entry): MigrationInfo {
  return {
    version: e.version,
    name: e.name,
    state: e.state,
    kind: e.file?.kind ?? null,
    reversible: e.file ? e.file.downPath !== undefined : false,
    appliedAt: e.row?.appliedAt ?? null,
    durationMs: e.row?.durationMs ?? null,
    outOfOrder: e.outOfOrder,
    file: e.file?.upPath ?? null,
    checksum: e.row?.checksum ?? e.file?.checksum ?? null,
  };
}

/** Why a lock is stale — the same rules the engine uses to take one over — or null. */
function staleness(lock: LockRow): "lease expired" | "process is gone" | null {
  if (lock.expired) return "lease expired";
  return lock.host === os.hostname() && !processAlive(lock.pid) ? "process is gone" : null;
}

export async function status(options: CommandOptions): Promise<StatusResult> {
  return withSession(options, { write: false }, async (s) => {
    const state = await s.engine.readState();
    const entries = reconcile(s.files, state.applied);
    const problem = blockingProblems(entries);
    const pick = (st: EntryState) => entries.filter((e) => e.state === st).map((e) => e.version);
    return {
      database: s.db.displayUrl,
      exists: s.db.exists,
      current: currentVersion(entries) ?? null,
      head: s.files.at(-1)?.version ?? null,
      applied: entries.filter((e) => e.state !== "pending").map(info),
      pending: entries.filter((e) => e.state === "pending").map(info),
      changed: pick("changed"),
      missing: pick("missing"),
      failed: pick("failed"),
      outOfOrder: entries.filter((e) => e.outOfOrder).map((e) => e.version),
      lock: state.lock ? { ...state.lock, stale: staleness(state.lock) } : null,
      problems: problem ? [`${problem.message} — ${problem.hint}`] : [],
    };
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
      return { database: s.db.displayUrl, migrations: reconcile(s.files, state.applied).map(info) };
    });
  } catch (e) {
    if (!(e instanceof StrataError && e.kind === "config" && /no database URL/.test(e.message))) throw e;
    const { assertGivenPathExists, resolveSettings } = await import("../config/settings.ts");
    const { discoverMigrations } = await import("../script/discover.ts");
    const settings = resolveSettings(options);
    assertGivenPathExists(settings, "dir");
    const files = discoverMigrations(settings.dir);
    return { database: null, migrations: reconcile(files, []).map(info) };
  }
}

