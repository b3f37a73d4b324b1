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
  [new RegExp(String.raw`^CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?${QUALIFIED}`, "i"), false],
  [new RegExp(String.raw`^INSERT\s+(?:OR\s+(?:ABORT|FAIL|IGNORE|ROLLBACK)\s+)?INTO\s+${QUALIFIED}`, "i"), false],
  [new RegExp(String.raw`^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?${QUALIFIED}`, "i"), true],
  [new RegExp(String.raw`^ALTER\s+TABLE\s+${QUALIFIED}(?:\s+RENAME\s+TO\s+${NAME})?`, "i"), true],
  [new RegExp(String.raw`^(?:REPLACE|INSERT\s+OR\s+REPLACE)\s+INTO\s+${QUALIFIED}`, "i"), true],
  [new RegExp(String.raw`^UPDATE\s+(?:OR\s+\w+\s+)?${QUALIFIED}`, "i"), true],
  [new RegExp(String.raw`^DELETE\s+FROM\s+${QUALIFIED}`, "i"), true],
];
/** Statements that change no rows (an index or view cannot create a violation). */
const NO_ROWS = /^(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|CREATE\s+(TEMP\s+|TEMPORARY\s+)?(VIEW|TRIGGER)|DROP\s+(VIEW|TRIGGER)|ANALYZE|REINDEX|VACUUM|SELECT|PRAGMA\s+[\w.]+\s*(\(\s*[\w"]*\s*\))?\s*$)/i;

function unquote(name: string): string {
  if (/^["`[]/.test(name)) return name.slice(1, -1).replace(/""/g, '"');
  return name;
}

export function scopeOf(statements: string[]): Scope {
  const tables = new Set<string>();
  for (const sql of statements) {
    if (NO_ROWS.test(sql)) continue;
    const hit = WRITES.map(([re, parent]) => [re.exec(sql), parent] as const).find(([m]) => m);
    if (!hit || hit[1]) return undefined;
    tables.add(unquote(hit[0]![2]!).toLowerCase()); // groups: [schema?, table]
  }
  return [...tables];
}

/**
 * The number of foreign-key violations in the scope (?1: JSON array of tables, NULL = all).
 * The whole-database pragma is fast; the per-table form is for big databases where a
 * migration only adds to a few tables. A trigger on a scoped table may write anywhere, so it
 * widens the check to everything.
 */
const COUNT_VIOLATIONS = `SELECT CASE
  WHEN ?1 IS NULL OR EXISTS (SELECT 1 FROM sqlite_schema t WHERE t.type = 'trigger' AND lower(t.tbl_name) IN (SELECT value FROM json_each(?1)))
  THEN (SELECT count(*) FROM pragma_foreign_key_check)
  ELSE (SELECT count(*) FROM json_each(?1) j CROSS JOIN sqlite_schema m CROSS JOIN pragma_foreign_key_check(m.name) c
        WHERE m.type = 'table' AND m.name = j.value COLLATE NOCASE)
END`;

/** Past this many tables the per-table form costs more than one pass over the database. */
const MAX_SCOPED_TABLES = 16;

function scopeArgs(scope: Scope): (string | null)[] {
  return [scope === undefined || scope.length > MAX_SCOPED_TABLES ? null : JSON.stringify(scope)];
}

export const GUARD_MESSAGES = {
  enforcementOn: "strata: foreign key enforcement is on",
  foreignKeys: "strata: new foreign key violations",
  versionRow: "strata: version row changed concurrently",
} as const;

/**
 * First statements of a migration's transaction: the guard tables, the violation baseline and
 * the start time (the version row's duration_ms is computed from it, inside the same batch).
 */
export function guardStart(scope: Scope): InStatement[] {
  return [
    `CREATE TEMP TABLE IF NOT EXISTS strata_guard (
  foreign_key_enforcement INTEGER CONSTRAINT "${GUARD_MESSAGES.enforcementOn}" CHECK (foreign_key_enforcement = 0),
  new_foreign_key_violations INTEGER CONSTRAINT "${GUARD_MESSAGES.foreignKeys}" CHECK (new_foreign_key_violations <= 0),
  version_rows_changed INTEGER CONSTRAINT "${GUARD_MESSAGES.versionRow}" CHECK (version_rows_changed = 1)
)`,
    // Enforcement must be off, or dropping/rebuilding a parent would cascade deletes: refuse.
    "INSERT INTO temp.strata_guard (foreign_key_enforcement) SELECT foreign_keys FROM pragma_foreign_keys",
    "CREATE TEMP TABLE IF NOT EXISTS strata_step (violations INTEGER NOT NULL, started REAL NOT NULL)",
    "DELETE FROM temp.strata_step",
    { sql: `INSERT INTO temp.strata_step (violations, started) SELECT (${COUNT_VIOLATIONS}), julianday('now')`, args: scopeArgs(scope) },
  ];
}

/** Milliseconds since guardStart, for the version row. */
export const STEP_DURATION_MS = "coalesce((SELECT CAST(round((julianday('now') - started) * 86400000) AS INTEGER) FROM temp.strata_step), 0)";

/** Last check before COMMIT: no new violations in the scope. */
export function guardForeignKeys(scope: Scope): InStatement {
  return {
    sql: `INSERT INTO temp.strata_guard (new_foreign_key_violations) SELECT (${COUNT_VIOLATIONS}) - (SELECT violations FROM temp.strata_step)`,
    args: scopeArgs(scope),
  };
}

/** Right after the version row's DELETE: exactly one row must have changed. */
export const GUARD_VERSION_ROW: InStatement = "INSERT INTO temp.strata_guard (version_rows_changed) VALUES (changes())";

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
