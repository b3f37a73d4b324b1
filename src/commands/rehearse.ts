/**
 * `strata rehearse`: the pending migrations tried on a copy of the target's data, never on the
 * target. On the copy, through the same engine `up` uses: apply each pending migration (timed:
 * its transaction is what holds the production write lock), check integrity and foreign keys,
 * revert them with their downs, and apply them again (counting rows written per table).
 */
import fs from "node:fs";
import { StrataError, messageOf } from "../errors.ts";
import { assertGivenPathExists, requireUrl, resolveSettings } from "../config/settings.ts";
import { openDatabase, type Database } from "../db/connection.ts";
import { silentLogger, type Logger } from "../output/logger.ts";
import { redactUrl } from "../output/redact.ts";
import { discoverMigrations, type MigrationFile } from "../script/discover.ts";
import { Engine } from "../runtime/migrator.ts";
import { blockingProblems, currentVersion, reconcile } from "../runtime/plan.ts";
import { Store } from "../runtime/store.ts";
import { integrityProblems } from "../backup/db.ts";
import { makeCopy, type RehearsalCopy } from "../rehearse/copy.ts";
import { foreignKeyViolations, rootPages, rowCount, startCountingWrites, stopCountingWrites } from "../rehearse/measure.ts";
import { withSession, type CommandOptions } from "./context.ts";

export interface RehearseOptions extends CommandOptions {
  /** Keep the copy (and its backup files) in this folder instead of a temporary one. */
  keepCopy?: string | undefined;
}

export interface RehearsedMigration {
  version: string;
  name: string;
  file: string;
  /** Wall time of the first apply on the copy. */
  durationMs: number;
  /**
   * Estimated time the production write lock is held: the whole transaction of a transactional
   * migration, measured on the copy (a remote server adds its round trips).
   */
  lockMs: number;
  /**
   * Rows inserted, updated or deleted per table, counted when the migration is applied again
   * after its down (the first apply runs exactly as production would); null without a down.
   */
  rowsChanged: Record<string, number> | null;
  /** Tables rebuilt (new root page), with their row count after. */
  rebuilt: { table: string; rows: number }[];
  /** Foreign-key violations per table after this migration. */
  violations: Record<string, number>;
  /** Time of its down, and of the apply after it; null when not reached. */
  downMs: number | null;
  reapplyMs: number | null;
}

export interface RehearsalFailure {
  phase: "up" | "down" | "reapply" | "integrity";
  version: string | null;
  file: string | null;
  line: number | null;
  statement: string | null;
  message: string;
}

export interface RehearseResult {
  ok: boolean;
  database: string;
  /** The copy the migrations ran on; null when nothing was pending (no copy made). */
  copy: { kind: RehearsalCopy["kind"]; snapshotMs: number; kept: string | null } | null;
  from: string | null;
  to: string | null;
  migrations: RehearsedMigration[];
  integrity: string[];
  /** Migrations without a down: the revert stopped at the newest of them. */
  irreversible: string[];
  failure: RehearsalFailure | null;
  durationMs: number;
}

export async function rehearse(options: RehearseOptions): Promise<RehearseResult> {
  const logger = options.logger ?? silentLogger;
  const started = Date.now();
  const settings = resolveSettings(options);
  const url = requireUrl(settings);
  assertGivenPathExists(settings, "dir");
  const files = discoverMigrations(settings.dir);
  // One read of the target first: a state `up` would refuse, or nothing pending, needs no copy.
  const target = await withSession(options, { write: false }, async (s) => reconcile(s.files, (await s.engine.readState()).applied));
  const refused = blockingProblems(target);
  if (refused) throw refused;
  if (!target.some((e) => e.state === "pending")) {
    const at = currentVersion(target) ?? null;
    logger.info(`nothing pending: ${redactUrl(url)} is at ${at ?? "base"}`);
    return { ok: true, database: redactUrl(url), copy: null, from: at, to: at, migrations: [], integrity: [], irreversible: [], failure: null, durationMs: Date.now() - started };
  }
  logger.info(`copying ${redactUrl(url)} for the rehearsal`);
  const copy = await makeCopy({ url, authToken: settings.authToken, table: settings.table, busyTimeoutMs: Math.max(settings.lockTimeoutMs, 1000) }, logger, options.keepCopy);
  const db = await openDatabase(`file:${copy.file}`, { create: false, busyTimeoutMs: 5000 });
  try {
    const engine = new Engine({ db, table: settings.table, logger: logger, lockTimeoutMs: 0 });
    const entries = reconcile(files, (await engine.readState()).applied);
    const problem = blockingProblems(entries);
    if (problem) throw problem;
    const pending = entries.filter((e) => e.state === "pending").map((e) => e.file!);
    // strata's tables, as `up` creates them under its lock (the copy needs no lock).
    await db.client.batch(engine.store.createTables(), "write");
    const result: RehearseResult = {
      ok: false,
      database: redactUrl(url),
      copy: { kind: copy.kind, snapshotMs: copy.snapshotMs, kept: options.keepCopy ? copy.dir : null },
      from: currentVersion(entries) ?? null,
      to: currentVersion(entries) ?? null,
      migrations: [],
      integrity: [],
      irreversible: [],
      failure: null,
      durationMs: 0,
    };
    await runRehearsal(db, engine, pending, result, logger, new Store(settings.table).ownTables);
    result.ok = result.failure === null;
    result.durationMs = Date.now() - started;
    return result;
  } finally {
    db.close();
    if (!options.keepCopy) fs.rmSync(copy.dir, { recursive: true, force: true });
  }
}

async function runRehearsal(db: Database, engine: Engine, pending: MigrationFile[], result: RehearseResult, logger: Logger, ownTables: string[]): Promise<void> {
  const client = db.client;
  const own = new Set(ownTables.map((t) => t.toLowerCase()));
  const fail = (phase: RehearsalFailure["phase"], m: MigrationFile | null, e: unknown) => {
    const err = e instanceof StrataError ? e : undefined;
    const statement = err?.details?.statement;
    result.failure = {
      phase,
      version: m?.version ?? null,
      file: err?.file ?? m?.upPath ?? null,
      line: err?.line ?? null,
      statement: typeof statement === "string" ? statement : null,
      message: messageOf(e),
    };
    logger.error(`rehearsal: ${phase} of ${m ? `${m.version}_${m.name}` : "the copy"} failed: ${messageOf(e)}`);
  };

  // 1. Apply, timed, observing each migration.
  for (const [i, m] of pending.entries()) {
    logger.progress(i + 1, pending.length, `rehearsing ${m.version}_${m.name}`);
    const pagesBefore = await rootPages(client);
    let step;
    try {
      step = await engine.up(m);
    } catch (e) {
      return fail("up", m, e);
    }
    const pagesAfter = await rootPages(client);
    const rebuilt: RehearsedMigration["rebuilt"] = [];
    for (const [table, page] of pagesAfter) {
      const before = pagesBefore.get(table);
      if (before !== undefined && before !== page && !own.has(table.toLowerCase())) rebuilt.push({ table, rows: await rowCount(client, table) });
    }
    result.migrations.push({
      version: m.version,
      name: m.name,
      file: m.upPath,
      durationMs: step.durationMs,
      lockMs: step.durationMs,
      rowsChanged: null,
      rebuilt,
      violations: await foreignKeyViolations(client),
      downMs: null,
      reapplyMs: null,
    });
    result.to = m.version;
  }

  // 2. The whole copy: integrity.
  result.integrity = await integrityProblems(client);
  if (result.integrity.length > 0) return fail("integrity", null, new StrataError("state", `integrity_check after the migrations: ${result.integrity.slice(0, 3).join("; ")}`));

  // 3. Revert, newest first, as far as downs exist.
  const reverted: MigrationFile[] = [];
  for (const m of [...pending].reverse()) {
    if (!m.downPath) {
      result.irreversible.push(m.version);
      logger.warn(`rehearsal: ${m.version}_${m.name} has no down; the revert stops there`);
      break;
    }
    try {
      const r = await engine.down(m);
      result.migrations.find((x) => x.version === m.version)!.downMs = r.durationMs;
      reverted.unshift(m);
    } catch (e) {
      return fail("down", m, e);
    }
  }

  // 4. Apply again what was reverted, counting rows written per table.
  for (const m of reverted) {
    const entry = result.migrations.find((x) => x.version === m.version)!;
    await startCountingWrites(client, (name) => own.has(name.toLowerCase()));
    try {
      entry.reapplyMs = (await engine.up(m)).durationMs;
    } catch (e) {
      return fail("reapply", m, e);
    } finally {
      entry.rowsChanged = await stopCountingWrites(client);
    }
  }
}
