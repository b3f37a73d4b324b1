/**
 * Schema commands: `new --autogenerate`, `check`, `schema dump` and `init --from-db`.
 * Autogenerate compares two scratch in-memory databases — the migrations' head and schema.sql —
 * and never touches the target database.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StrataError, messageOf } from "../errors.ts";
import { assertGivenPathExists, assertOutputFolderExists, resolveSettings } from "../config/settings.ts";
import { openDatabase, type Database } from "../db/connection.ts";
import { sqliteMessage } from "../db/errors.ts";
import { silentLogger, type Logger } from "../output/logger.ts";
import { discoverMigrations, type MigrationFile } from "../script/discover.ts";
import { splitSql, SqlSyntaxError } from "../script/sql-split.ts";
import { Engine } from "../runtime/migrator.ts";
import { blockingProblems, currentVersion, reconcile } from "../runtime/plan.ts";
import { Store } from "../runtime/store.ts";
import {
  compareSchemas,
  introspect,
  renderMigration,
  renderSchema,
  summarize,
  unenforceableForeignKeys,
  UNENFORCEABLE_FK_HINT,
  type CompareOptions,
  type Migration,
  type Schema,
  type SchemaDiff,
} from "../autogenerate/index.ts";
import { quoteIdent } from "../ddl/tokenize.ts";
import { freeName } from "../ddl/rebuild.ts";
import { newMigration, type NewResult } from "./new.ts";
import { writeFileAtomic } from "../backup/files.ts";
import { stamp } from "./record.ts";
import { withSession, type CommandOptions } from "./context.ts";

/** The schema of a database without strata's own tables (whatever --table is). */
export async function schemaOf(db: Database, table: string): Promise<Schema> {
  const own = new Set(new Store(table).ownTables.map((n) => n.toLowerCase()));
  const s = await introspect(db.client);
  const keep = <T extends { name: string }>(xs: T[], tableOf: (x: T) => string = (x) => x.name) => xs.filter((x) => !own.has(x.name.toLowerCase()) && !own.has(tableOf(x).toLowerCase()));
  return { tables: keep(s.tables), indexes: keep(s.indexes, (i) => i.table), views: keep(s.views), triggers: keep(s.triggers, (t) => t.table) };
}

interface ScratchHead {
  db: Database;
  engine: Engine;
  schema: Schema;
}

/** Every migration applied, in order, to a scratch in-memory database, kept open for `fn`. */
async function withHead<T>(files: MigrationFile[], table: string, fn: (head: ScratchHead) => Promise<T>): Promise<T> {
  const db = await openDatabase(":memory:", { create: true });
  try {
    const engine = new Engine({ db, table, logger: silentLogger, lockTimeoutMs: 0 });
    await db.client.batch(engine.store.createTables(), "write");
    for (const file of files) await engine.up(file);
    return await fn({ db, engine, schema: await schemaOf(db, table) });
  } finally {
    db.close();
  }
}

/** The schema every migration produces, applied in order to a scratch in-memory database. */
export async function headSchema(files: MigrationFile[], table: string): Promise<Schema> {
  return withHead(files, table, async (head) => head.schema);
}

/** schema.sql executed in a scratch in-memory database; errors name the file and line. */
export async function declaredSchema(file: string, table: string): Promise<Schema> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new StrataError("usage", `cannot read schema file ${file}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`, {
      hint: "write the desired schema to schema.sql, or point --schema / STRATA_SCHEMA at it",
    });
  }
  let statements;
  try {
    statements = splitSql(text).statements;
  } catch (e) {
    if (e instanceof SqlSyntaxError) throw new StrataError("usage", e.message, { file, line: e.line });
    throw e;
  }
  const db = await openDatabase(":memory:", { create: true });
  try {
    for (const st of statements) {
      try {
        await db.client.execute(st.sql);
      } catch (e) {
        throw new StrataError("usage", `schema.sql: ${sqliteMessage(e)}`, { file, line: st.line, hint: "fix the statement in the schema file" });
      }
    }
    const schema = await schemaOf(db, table);
    await assertDependentsResolve(db, schema, file);
    const problems = unenforceableForeignKeys(schema);
    if (problems.length > 0) throw new StrataError("usage", `schema.sql: ${problems[0]}`, { file, hint: UNENFORCEABLE_FK_HINT });
    return schema;
  } finally {
    db.close();
  }
}

/**
 * SQLite accepts a view or trigger that names a missing table or column and fails only when it
 * is used, or during any later ALTER TABLE RENAME/DROP COLUMN. Such a schema.sql would make
 * autogenerate recreate a broken view after dropping the column it names, so it is refused here:
 * renaming a throwaway table makes SQLite re-check every view and trigger.
 */
async function assertDependentsResolve(db: Database, schema: Schema, file: string): Promise<void> {
  if (schema.views.length + schema.triggers.length === 0) return;
  const probe = freeName("strata_probe", [schema]);
  await db.client.execute(`CREATE TABLE ${quoteIdent(probe)} (x)`);
  try {
    await db.client.execute(`ALTER TABLE ${quoteIdent(probe)} RENAME TO ${quoteIdent(`${probe}_renamed`)}`);
  } catch (e) {
    throw new StrataError("usage", `schema.sql: ${sqliteMessage(e)}`, {
      file,
      hint: "every view and trigger may name only tables and columns the schema file defines; fix or drop it",
    });
  }
}

export interface AutogenerateResult extends Partial<NewResult> {
  empty: boolean;
  summary: string[];
  up: string;
  down: string;
}

/** `strata new MESSAGE --autogenerate`: writes .up.sql/.down.sql taking head to schema.sql. */
export async function autogenerate(options: CommandOptions & { message: string; schema?: string | undefined; now?: Date }): Promise<AutogenerateResult> {
  const settings = resolveSettings(options);
  const logger = options.logger ?? silentLogger;
  const files = discoverMigrations(settings.dir);
  const compare: CompareOptions = { strictColumnOrder: settings.strictColumnOrder };
  const to = await declaredSchema(settings.schema, settings.table);
  const migration = await withHead(files, settings.table, async (head) => {
    const diff = compareSchemas(head.schema, to, compare);
    if (diff.empty) return null;
    const rowCounts = await rowCountsOf(settings.url, settings.authToken, rebuiltTables(diff), logger);
    const m = renderMigration(diff, head.schema, to, { ...compare, rowCounts });
    await rehearse(head, m, to, settings.table, compare);
    return m;
  });
  if (migration === null) {
    logger.info(`no differences between the migrations' head and ${path.basename(settings.schema)}; nothing written`);
    return { empty: true, summary: [], up: "", down: "" };
  }
  const written = newMigration({ ...options, sql: { up: migration.up, down: migration.down } });
  return { ...written, empty: false, summary: migration.summary, up: migration.up, down: migration.down };
}

function rebuiltTables(diff: SchemaDiff): string[] {
  return diff.tables.filter((t) => t.ops.some((op) => op.kind === "rebuildTable")).map((t) => t.table);
}

/**
 * Rows of each table in the target database, for the rebuild comments. Only
 * read, never created; without a database (or when it cannot be read) the
 * comments simply have no row counts.
 */
async function rowCountsOf(url: string | undefined, authToken: string | undefined, tables: string[], logger: Logger): Promise<Record<string, number>> {
  if (url === undefined || tables.length === 0) return {};
  let db: Database | undefined;
  try {
    db = await openDatabase(url, { authToken, create: false });
    if (!db.exists) return {};
    const counts: Record<string, number> = {};
    for (const t of tables) {
      const rs = await db.client.execute(`SELECT count(*) AS n FROM ${quoteIdent(t)}`);
      counts[t.toLowerCase()] = Number(rs.rows[0]!.n);
    }
    return counts;
  } catch (e) {
    logger.debug(`row counts for the rebuild comments not read: ${messageOf(e)}`);
    return {};
  } finally {
    db?.close();
  }
}

/** `rehearse` on a fresh scratch head: for checking a hand-edited or generated pair. */
export async function rehearseMigration(files: MigrationFile[], table: string, m: Pick<Migration, "up" | "down">, to: Schema, compare: CompareOptions = {}): Promise<void> {
  await withHead(files, table, (head) => rehearse(head, m, to, table, compare));
}

/**
 * Runs the generated files through the engine on the scratch head database
 * before anything is written: `up` must reach schema.sql and `down` must come
 * back to head. A migration that would fail (or land elsewhere) is refused.
 */
async function rehearse(head: ScratchHead, m: Pick<Migration, "up" | "down">, to: Schema, table: string, compare: CompareOptions): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-rehearse-"));
  try {
    fs.writeFileSync(path.join(dir, "99999999999999999999_generated.up.sql"), m.up);
    fs.writeFileSync(path.join(dir, "99999999999999999999_generated.down.sql"), m.down);
    const [file] = discoverMigrations(dir);
    const steps: ["up" | "down", Schema, string][] = [["up", to, "schema.sql"], ["down", head.schema, "the migrations' head"]];
    for (const [direction, expected, label] of steps) {
      try {
        await head.engine[direction](file!);
      } catch (e) {
        const line = e instanceof StrataError && e.line !== undefined ? ` (line ${e.line})` : "";
        throw new StrataError("failure", `the generated ${direction} migration fails${line}: ${firstLineOf(e)}`, {
          hint: "nothing was written; change schema.sql (or write this migration by hand) and report the case",
          cause: e,
        });
      }
      const left = summarize(compareSchemas(await schemaOf(head.db, table), expected, compare));
      if (left.length > 0) {
        throw new StrataError("failure", `the generated ${direction} migration does not reach ${label}: ${left[0]}`, {
          hint: "nothing was written; write this migration by hand and report the case",
        });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function firstLineOf(e: unknown): string {
  return messageOf(e).split("\n")[0]!;
}

export interface CheckResult {
  database: string;
  ok: boolean;
  current: string | null;
  head: string | null;
  /** One line per difference; empty when ok. */
  differences: string[];
  /** The schema file compared with head; null when there is none (the default ./schema.sql is absent). */
  schema: string | null;
  /** Whether the live schema was compared with head (not when pending, blocked or no database yet). */
  liveCompared: boolean;
}

/**
 * `strata check`: a CI gate. OK when the database is at head, no applied file changed, the live
 * schema is what the migrations produce, and schema.sql (when present) matches head.
 */
export async function check(options: CommandOptions): Promise<CheckResult> {
  if (!options.opened) assertGivenPathExists(resolveSettings(options), "schema");
  return withSession(options, { write: false }, async (s) => {
    const state = await s.engine.readState();
    const entries = reconcile(s.files, state.applied);
    const differences: string[] = [];
    const pending = entries.filter((e) => e.state === "pending");
    if (pending.length > 0) differences.push(`database is not up to date: ${pending.length} pending (${pending.map((e) => e.version).join(", ")})`);
    const problem = blockingProblems(entries);
    if (problem) differences.push(problem.message);
    const head = await headSchema(s.files, s.settings.table);
    const compare: CompareOptions = { strictColumnOrder: s.settings.strictColumnOrder };
    const liveCompared = pending.length === 0 && !problem && s.db.exists;
    if (liveCompared) {
      const live = await schemaOf(s.db, s.settings.table);
      differences.push(...summarize(compareSchemas(head, live, compare)).map((d) => `database differs from the migrations' head: ${d}`));
      differences.push(...unenforceableForeignKeys(live).map((d) => `database: ${d}`));
    }
    const schemaFile = fs.existsSync(s.settings.schema) ? s.settings.schema : null;
    if (schemaFile) {
      const declared = await declaredSchema(s.settings.schema, s.settings.table);
      differences.push(...summarize(compareSchemas(head, declared, compare)).map((d) => `${path.basename(s.settings.schema)} differs from the migrations' head: ${d}`));
    }
    return {
      database: s.db.displayUrl,
      ok: differences.length === 0,
      current: currentVersion(entries) ?? null,
      head: s.files.at(-1)?.version ?? null,
      differences,
      schema: schemaFile,
      liveCompared,
    };
  });
}

export interface DumpResult {
  database: string;
  sql: string;
  out: string | null;
}

/** `strata schema dump`: the live schema as SQL in a stable, normalized order. */
export async function schemaDump(options: CommandOptions & { out?: string | undefined }): Promise<DumpResult> {
  if (options.out) assertOutputFolderExists(options.out, "--out");
  return withSession(options, { write: false, needFiles: false }, async (s) => {
    const sql = renderSchema(await schemaOf(s.db, s.settings.table));
    // A schema dump is for code review, not a secret: ordinary file mode.
    if (options.out) await writeFileAtomic(path.resolve(options.out), sql, 0o644);
    return { database: s.db.displayUrl, sql, out: options.out ? path.resolve(options.out) : null };
  });
}

export interface InitResult extends NewResult {
  database: string;
  objects: number;
}

/**
 * `strata init --from-db`: adopt an existing database. Writes an initial migration capturing
 * its schema (down drops it) and stamps the database at it, as the seed's "created and stamped".
 */
export async function initFromDb(options: CommandOptions & { message?: string | undefined; now?: Date }): Promise<InitResult> {
  const captured = await withSession(options, { write: false, needFiles: false }, async (s) => {
    const state = await s.engine.readState();
    if (state.applied.length > 0) {
      throw new StrataError("state", `${s.db.displayUrl} already has strata history (${state.applied.length} applied)`, {
        hint: "init --from-db is for databases strata has never migrated; see `strata status`",
      });
    }
    // The one verb that starts a project: its --dir may be new (it is created for the initial migration).
    const files = fs.existsSync(s.settings.dir) ? discoverMigrations(s.settings.dir) : [];
    if (files.length > 0) {
      throw new StrataError("state", `the migrations folder ${s.settings.dir} is not empty`, {
        hint: "run init --from-db with an empty --dir, or `strata stamp <rev>` to adopt the database at an existing migration",
      });
    }
    return { database: s.db.displayUrl, schema: await schemaOf(s.db, s.settings.table) };
  });
  const objects = captured.schema.tables.length + captured.schema.indexes.length + captured.schema.views.length + captured.schema.triggers.length;
  if (objects === 0) throw new StrataError("state", `${captured.database} has no tables to capture`, { hint: "start with `strata new` instead" });
  const empty: Schema = { tables: [], indexes: [], views: [], triggers: [] };
  const migration = renderMigration(compareSchemas(empty, captured.schema), empty, captured.schema);
  const written = newMigration({ ...options, message: options.message ?? "initial schema", sql: { up: migration.up, down: migration.down } });
  await stamp({ ...options, revision: written.version });
  return { ...written, database: captured.database, objects };
}

