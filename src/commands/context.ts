/**
 * What every command needs: resolved settings, an open database, the migration files and the
 * engine. Commands are library functions: they take these and return results as values.
 */
import { assertGivenPathExists, requireUrl, resolveSettings, type FlagValues, type Settings } from "../config/settings.ts";
import fs from "node:fs";
import { localPathOf, openDatabase, type Database } from "../db/connection.ts";
import { loadStep } from "../script/load.ts";
import { silentLogger, type Logger } from "../output/logger.ts";
import { discoverMigrations, type MigrationFile } from "../script/discover.ts";
import { Engine } from "../runtime/migrator.ts";
import { setMigrationTimeout } from "../script/ts-runner.ts";

export interface CommandOptions extends FlagValues {
  logger?: Logger;
  /** Wait up to this long for the database to answer before running (--wait). */
  waitMs?: number | undefined;
  /**
   * Run against this already-open database instead of resolving and opening one: a fleet run
   * keeps one connection per database across its commands. The caller closes it.
   */
  opened?: OpenedDatabase | undefined;
}

/** A database opened by the caller, with its settings and the migration files read once. */
export interface OpenedDatabase {
  settings: Settings;
  db: Database;
  files: MigrationFile[];
}

export interface Session {
  settings: Settings;
  db: Database;
  engine: Engine;
  files: MigrationFile[];
  logger: Logger;
  close(): void;
}

/**
 * Opens what a command needs. `write` commands may create the database file; read-only ones
 * never do. Migration files are read before the database is opened, so a malformed folder
 * fails before anything is touched.
 */
export interface Access {
  write: boolean;
  needFiles?: boolean;
  /**
   * Load every migration before a missing local database file is created, so that a broken
   * migration folder does not leave a new database behind.
   */
  validateBeforeCreate?: boolean;
}

export async function openSession(options: CommandOptions, access: Access): Promise<Session> {
  const logger = options.logger ?? silentLogger;
  if (options.opened) return borrowedSession(options.opened, logger);
  const settings = resolveSettings(options);
  const url = requireUrl(settings);
  setMigrationTimeout(settings.migrationTimeout);
  if (access.needFiles !== false) assertGivenPathExists(settings, "dir");
  const files = access.needFiles === false ? [] : discoverMigrations(settings.dir);
  const local = localPathOf(url);
  if (access.validateBeforeCreate && local !== undefined && !fs.existsSync(local)) {
    for (const file of files) await loadStep(file, "up");
  }
  const db = await openDatabase(url, {
    authToken: settings.authToken,
    create: access.write,
    busyTimeoutMs: Math.max(settings.lockTimeoutMs, 1000),
  });
  const engine = new Engine({ db, table: settings.table, logger, lockTimeoutMs: settings.lockTimeoutMs });
  if (options.waitMs !== undefined && db.exists) {
    try {
      await engine.waitUntilReachable(options.waitMs);
    } catch (e) {
      db.close();
      throw e;
    }
  }
  logger.debug(`database ${db.displayUrl} (url from ${settings.sources.url}), migrations ${settings.dir}, table ${settings.table}`);
  return { settings, db, engine, files, logger, close: () => db.close() };
}

function borrowedSession({ settings, db, files }: OpenedDatabase, logger: Logger): Session {
  const engine = new Engine({ db, table: settings.table, logger, lockTimeoutMs: settings.lockTimeoutMs });
  return { settings, db, engine, files, logger, close: () => {} };
}

/** Runs `fn` with a session and always closes it. */
export async function withSession<T>(options: CommandOptions, access: Access, fn: (s: Session) => Promise<T>): Promise<T> {
  const session = await openSession(options, access);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}
