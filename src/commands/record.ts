/**
 * stamp, resolve and unlock: commands that change what strata has recorded, never the schema.
 */
import type { InStatement } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { currentVersion, reconcile, resolveRevision } from "../runtime/plan.ts";
import type { LockRow } from "../runtime/store.ts";
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
    const started = performance.now();
    const state = options.dryRun ? await s.engine.readState() : (await s.engine.lock("stamp")).state;
    try {
      const entries = reconcile(s.files, state.applied);
      const from = currentVersion(entries) ?? null;
      const target = resolveRevision(options.revision, entries);
      const stmts: InStatement[] = [];
      const added: string[] = [];
      const removed: string[] = [];
      entries.forEach((e, i) => {
        const want = i <= target && e.file !== undefined;
        if (want && (e.state !== "applied")) {
          stmts.push(s.engine.store.stampApplied(e.version, e.name, e.file!.checksum));
          added.push(e.version);
        } else if (!want && e.row) {
          stmts.push(s.engine.store.deleteApplied(e.row.version));
          removed.push(e.version);
        }
      });
      const to = target >= 0 ? entries[target]!.version : null;
      if (!options.dryRun) {
        if (stmts.length > 0) await s.db.client.batch(stmts, "write");
        await s.engine.unlockAndLog({ command: `stamp ${options.revision}`, versions: [...added, ...removed], result: "ok", durationMs: performance.now() - started });
        s.logger.info(`stamped ${to ?? "base"}: recorded ${added.length}, removed ${removed.length}; no migration was run`);
      }
      return { database: s.db.displayUrl, dryRun: Boolean(options.dryRun), from, to, added, removed };
    } catch (e) {
      if (!options.dryRun) await s.engine.unlockAndLog({ command: "stamp", versions: [], result: "error", durationMs: performance.now() - started, message: messageOf(e) });
      throw e;
    }
  });
}

export interface ResolveOptions extends CommandOptions {
  version: string;
  as: "applied" | "reverted";
}

export interface ResolveResult {
  database: string;
  version: string;
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
    const started = performance.now();
    const { state } = await s.engine.lock("resolve");
    try {
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
      const stmt = options.as === "applied"
        ? s.engine.store.stampApplied(entry.version, entry.name, entry.file!.checksum)
        : s.engine.store.deleteApplied(entry.row!.version);
      await s.db.client.batch([stmt], "write");
      await s.engine.unlockAndLog({ command: `resolve --${options.as}`, versions: [entry.version], result: "ok", durationMs: performance.now() - started });
      s.logger.info(`recorded ${entry.version}_${entry.name} as ${options.as} (was ${entry.state})`);
      return { database: s.db.displayUrl, version: entry.version, recordedAs: options.as, previousState: entry.state };
    } catch (e) {
      await s.engine.unlockAndLog({ command: "resolve", versions: [], result: "error", durationMs: performance.now() - started, message: messageOf(e) });
      throw e;
    }
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

