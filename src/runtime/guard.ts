/**
 * The integrity guard every migration's transaction ends with. It makes the transaction fail —
 * inside the same batch, so it costs no round trip — unless:
 * - the migration added no foreign-key violations (enforcement is off while migrating, so a
 *   dropped or rebuilt parent never cascades deletes; this check catches orphans instead), and
 * - on down, exactly one version row was deleted (another runner did not get there first).
 *
 * The foreign-key check compares with a baseline taken at the start, so violations that
 * existed before never block a run; it is scoped to the tables a migration only adds to (see
 * scopeOf), and covers everything otherwise (TypeScript migrations included).
 */
import type { InStatement } from "@libsql/client";

/**
 * The tables an SQL step only adds rows or tables to, lower-cased: only they can gain
 * violations. undefined — check everything — when the step can remove or re-key rows (a
 * parent's children may be orphaned), or when its statements cannot be classified.
 */
export type Scope = string[] | undefined;

const NAME = String.raw`("(?:[^"]|"")+"|\[[^\]]+\]|` + "`[^`]+`" + String.raw`|[A-Za-z_][\w$]*)`;
const QUALIFIED = String.raw`(?:${NAME}\s*\.\s*)?${NAME}`;
/** [pattern, whether the statement can remove or re-key rows of the table (a parent)] */
const WRITES: [RegExp, boolean][] = [
  [new RegExp(String.raw`^INSERT\s+(?:OR\s+(?:ABORT|FAIL|IGNORE|ROLLBACK)\s+)?INTO\s+${QUALIFIED}`, "i"), false],
  [new RegExp(String.raw`^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?${QUALIFIED}`, "i"), true],
  [new RegExp(String.raw`^ALTER\s+TABLE\s+${QUALIFIED}(?:\s+RENAME\s+TO\s+${NAME})?`, "i"), true],
  [new RegExp(String.raw`^(?:REPLACE|INSERT\s+OR\s+REPLACE)\s+INTO\s+${QUALIFIED}`, "i"), true],
  [new RegExp(String.raw`^UPDATE\s+(?:OR\s+\w+\s+)?${QUALIFIED}`, "i"), true],
  [new RegExp(String.raw`^DELETE\s+FROM\s+${QUALIFIED}`, "i"), true],
];
/**
 * Statements that cannot add a violation: they change no rows (an index, a view, a trigger's
 * definition), or create a table — empty, or filled by AS SELECT, which copies no constraint.
 */
const NO_ROWS = /^(CREATE\s+(TEMP\s+|TEMPORARY\s+)?TABLE|CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|CREATE\s+(TEMP\s+|TEMPORARY\s+)?(VIEW|TRIGGER)|DROP\s+(VIEW|TRIGGER)|ANALYZE|REINDEX|VACUUM|SELECT|PRAGMA\s+[\w.]+\s*(\(\s*[\w"]*\s*\))?\s*$)/i;

function unquote(name: string): string {
  if (/^["`[]/.test(name)) return name.slice(1, -1).replace(/""/g, '"');
  return name;
}

/** A plain CREATE TABLE (no IF NOT EXISTS, not TEMP): it fails unless the table is new. */
const CREATE_NEW_TABLE = new RegExp(String.raw`^CREATE\s+TABLE\s+(?!IF\s)${QUALIFIED}`, "i");

export function scopeOf(statements: string[]): Scope {
  const tables = new Set<string>();
  // Tables this step creates without any foreign key: no row of theirs can ever violate one,
  // and rows added to them orphan nothing, so they need no check (unless a trigger of this
  // step writes elsewhere; a new table has no other trigger).
  const newWithoutKeys = new Set<string>();
  const triggers = statements.some(createsTrigger);
  for (const sql of statements) {
    const created = CREATE_NEW_TABLE.exec(sql);
    if (created && !triggers && !/REFERENCES/i.test(sql)) newWithoutKeys.add(unquote(created[2]!).toLowerCase());
    if (NO_ROWS.test(sql)) continue;
    const hit = WRITES.map(([re, parent]) => [re.exec(sql), parent] as const).find(([m]) => m);
    if (!hit || hit[1]) return undefined;
    tables.add(unquote(hit[0]![2]!).toLowerCase()); // groups: [schema?, table]
  }
  return [...tables].filter((t) => !newWithoutKeys.has(t));
}

/** Whether a statement defines a trigger (which may then write to tables outside any scope). */
export function createsTrigger(sql: string): boolean {
  return /^CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER/i.test(sql);
}

/** Past this many tables the per-table form costs more than one pass over the database. */
const MAX_SCOPED_TABLES = 16;

/**
 * How the guard counts violations. `triggers: false` is a promise from the caller that the
 * schema holds no trigger (checked once per group, savepoint-group.ts); by default one is assumed.
 */
export interface CountOptions {
  triggers?: boolean;
}

/**
 * The number of foreign-key violations in the scope, as an SQL expression with its arguments.
 * The whole-database pragma is fast for small schemas; the per-table form — the scoped tables
 * looked up by name (pragma_table_list), never by scanning the schema — keeps the cost of a
 * migration independent of how many tables exist. A trigger on a scoped table may write
 * anywhere, so one widens the check to everything.
 */
function countViolations(scope: Scope, options: CountOptions): { sql: string; args: string[] } {
  const all = "(SELECT count(*) FROM pragma_foreign_key_check)";
  if (scope === undefined || scope.length > MAX_SCOPED_TABLES) return { sql: all, args: [] };
  if (scope.length === 0) return { sql: "0", args: [] };
  const scoped = `(SELECT count(*) FROM json_each(?1) j JOIN pragma_table_list(j.value) t JOIN pragma_foreign_key_check(t.name, t.schema) WHERE t.type = 'table')`;
  const args = [JSON.stringify(scope)];
  if (options.triggers === false) return { sql: scoped, args };
  return {
    sql: `CASE WHEN EXISTS (SELECT 1 FROM sqlite_schema s WHERE s.type = 'trigger' AND lower(s.tbl_name) IN (SELECT value FROM json_each(?1))) THEN ${all} ELSE ${scoped} END`,
    args,
  };
}

/** Whether a step's violation count can change at all: when not, the guard skips the check. */
export function canAddViolations(scope: Scope): boolean {
  return scope === undefined || scope.length > 0;
}

/**
 * The guard's state lives in strata's own one-row table `<table>_guard` (Store.guardTable), not
 * in TEMP tables: libSQL servers refuse temporary objects on remote connections. The row is
 * written and deleted inside the migration's transaction, so after every run the table is
 * empty; schema tools ignore it like strata's other tables. Each check is a CHECK constraint of
 * that table: a failing check fails its statement, and the engine knows which check failed from
 * the statement's position in the batch, never from the message.
 */
export function guardTableSql(guard: string): string {
  return `CREATE TABLE IF NOT EXISTS ${guard} (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  violations INTEGER NOT NULL,
  started REAL NOT NULL,
  foreign_key_enforcement INTEGER CHECK (foreign_key_enforcement = 0),
  new_foreign_key_violations INTEGER CHECK (new_foreign_key_violations <= 0),
  version_rows_changed INTEGER CHECK (version_rows_changed = 1)
)`;
}

/**
 * First statement of a migration's transaction: the check that enforcement is off (or dropping
 * or rebuilding a parent would cascade deletes), the violation baseline and the start time (the
 * version row's duration_ms is computed from it, inside the same batch).
 */
export function guardStart(guard: string, scope: Scope, options: CountOptions = {}): InStatement {
  const count = countViolations(scope, options);
  return {
    sql: `INSERT OR REPLACE INTO ${guard} (id, violations, started, foreign_key_enforcement) SELECT 1, ${count.sql}, julianday('now'), foreign_keys FROM pragma_foreign_keys`,
    args: count.args,
  };
}

/** Milliseconds since guardStart, for the version row. */
export function stepDurationMs(guard: string): string {
  return `coalesce((SELECT CAST(round((julianday('now') - started) * 86400000) AS INTEGER) FROM ${guard} WHERE id = 1), 0)`;
}

/** Last check before COMMIT: no new violations in the scope. */
export function guardForeignKeys(guard: string, scope: Scope, options: CountOptions = {}): InStatement {
  const count = countViolations(scope, options);
  return {
    sql: `UPDATE ${guard} SET new_foreign_key_violations = ${count.sql} - violations WHERE id = 1`,
    args: count.args,
  };
}

/** Right after the version row's DELETE: exactly one row must have changed. */
export function guardVersionRow(guard: string): InStatement {
  return `UPDATE ${guard} SET version_rows_changed = changes() WHERE id = 1`;
}

/** Last statement before COMMIT: the guard leaves no row behind. */
export function guardEnd(guard: string): InStatement {
  return `DELETE FROM ${guard}`;
}

/** A few violating rows, for the error message (violations that existed before may appear too). */
export const VIOLATION_REPORT: InStatement = `SELECT "table", rowid, parent FROM pragma_foreign_key_check LIMIT 20`;

/** SQL text for a statement with its arguments inlined (for a multi-statement sequence). */
export function inlineStatement(stmt: InStatement): string {
  if (typeof stmt === "string") return stmt;
  const args = (stmt.args ?? []) as unknown[];
  let next = 0;
  // Only strata's own statements pass through here: no "?" occurs inside their string literals.
  return stmt.sql.replace(/\?(\d+)?/g, (_, n: string | undefined) => literal(args[n === undefined ? next++ : Number(n) - 1]));
}

function literal(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  return `'${String(v).replace(/'/g, "''")}'`;
}
