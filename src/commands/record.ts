/**
 * stamp, resolve and unlock: commands that change what strata has recorded, never the schema.
 */
import type { InStatement } from "@libsql/client";
import { StrataError } from "../errors.ts";
import { currentVersion, reconcile, resolveRevision } from "../runtime/plan.ts";
import type { LockRow } from "../runtime/store.ts";
import type { DbState } from "../runtime/migrator.ts";
import { withSession, type CommandOptions } from "./context.ts";

export interface StampOptions extends CommandOptions {
  revision: string;
  dryRun?: boolean | undefined;
}

export interface StampResult {
  database: string;
  dryRun: boolean;
  from: string | null;
  to: string | null;
  /** Versions recorded as applied. */
  added: string[];
  /** Versions whose record was removed. */
  removed: string[];
}

/**
 * Records the database as being at REV without running anything: every migration file up to
 * REV is recorded as applied (with its current checksum), every other record is removed.
 */
export async function stamp(options: StampOptions): Promise<StampResult> {
  return withSession(options, { write: !options.dryRun }, async (s) => {
    /** Which records change to put the database at the revision. */
    const planStamp = (state: DbState) => {
      const entries = reconcile(s.files, state.applied);
      const target = resolveRevision(options.revision, entries);
      const statements: InStatement[] = [];
      const added: string[] = [];
      const removed: string[] = [];
      entries.forEach((e, i) => {
        const want = i <= target && e.file !== undefined;
        if (want && e.state !== "applied") {
          statements.push(s.engine.store.stampApplied(e.version, e.name, e.file!.checksum, s.engine.me.holder));
          added.push(e.version);
        } else if (!want && e.row) {
          statements.push(s.engine.store.deleteApplied(e.row.version));
          removed.push(e.version);
        }
      });
      const result: StampResult = {
        database: s.db.displayUrl,
        dryRun: Boolean(options.dryRun),
        from: currentVersion(entries) ?? null,
        to: target >= 0 ? entries[target]!.version : null,
        added,
        removed,
      };
      return { result, statements, log: { command: `stamp ${options.revision}`, versions: [...added, ...removed] } };
    };
    if (options.dryRun) return planStamp(await s.engine.readState()).result;
    const r = await s.engine.recordUnderLock("stamp", async (state) => planStamp(state));
    s.logger.info(`stamped ${r.to ?? "base"}: recorded ${r.added.length}, removed ${r.removed.length}; no migration was run`);
    return r;
  });
}

export interface ResolveOptions extends CommandOptions {
  version: string;
  as: "applied" | "reverted";
}

export interface ResolveResult {
  database: string;
  version: string;
  name: string;
  recordedAs: "applied" | "reverted";
  previousState: string;
}

/**
 * Settles one migration's record after a human looked at the database: `applied` records it
 * with its file's current checksum (a failed-midway or edited migration), `reverted` removes
 * the record (failed midway, or its file is gone).
 */
export async function resolve(options: ResolveOptions): Promise<ResolveResult> {
  return withSession(options, { write: true }, async (s) => {
    const r = await s.engine.recordUnderLock("resolve", async (state) => {
      const entries = reconcile(s.files, state.applied);
      const entry = entries[resolveRevision(options.version, entries)];
      if (!entry) throw new StrataError("usage", `revision ${options.version} names no migration`);
      if (options.as === "applied" && !entry.file) {
        throw new StrataError("usage", `${entry.version} has no migration file to record as applied`, { hint: "use --reverted to forget it" });
      }
      if (entry.state === "applied" && options.as === "applied") {
        throw new StrataError("usage", `${entry.version} is already recorded as applied with its current checksum`);
      }
      if (entry.state === "pending" && options.as === "reverted") {
        throw new StrataError("usage", `${entry.version} is not recorded in the database`);
      }
      const statement = options.as === "applied"
        ? s.engine.store.stampApplied(entry.version, entry.name, entry.file!.checksum, s.engine.me.holder)
        : s.engine.store.deleteApplied(entry.row!.version);
      return {
        result: { database: s.db.displayUrl, version: entry.version, recordedAs: options.as, previousState: entry.state, name: entry.name },
        statements: [statement],
        log: { command: `resolve --${options.as}`, versions: [entry.version] },
      };
    });
    s.logger.info(`recorded ${r.version}_${r.name} as ${r.recordedAs} (was ${r.previousState})`);
    return r;
  });
}

export interface UnlockResult {
  database: string;
  cleared: LockRow | null;
}

/** Clears a stale run lock. The CLI asks for confirmation first (or --yes). */
export async function unlock(options: CommandOptions & { confirm?: (lock: LockRow) => Promise<boolean> }): Promise<UnlockResult> {
  return withSession(options, { write: true, needFiles: false }, async (s) => {
    const state = await s.engine.readState();
    if (!state.lock) return { database: s.db.displayUrl, cleared: null };
    if (options.confirm && !(await options.confirm(state.lock))) {
      throw new StrataError("usage", "not confirmed; the lock was left in place", { hint: "pass --yes to skip the question" });
    }
    await s.db.client.batch([s.engine.store.clearLock(), s.engine.store.appendLog(s.engine.me, { command: "unlock", versions: [], result: "ok", durationMs: 0, message: `cleared lock of ${state.lock.host} pid ${state.lock.pid}` })], "write");
    s.logger.info(`cleared the lock held by ${state.lock.host} pid ${state.lock.pid} since ${state.lock.startedAt}`);
    return { database: s.db.displayUrl, cleared: state.lock };
  });
}

