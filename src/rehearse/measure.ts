/**
 * What a rehearsal observes on the copy around each migration, without changing how the
 * engine runs it: table root pages (a rebuilt table gets a new one), row counts, foreign-key
 * violations, and rows written per table through counting triggers (added to the copy
 * around one migration, removed after it).
 */
import type { Client } from "@libsql/client";
import { quoteIdent, sqlLiteral } from "../backup/sql-literal.ts";

export async function rootPages(client: Client): Promise<Map<string, number>> {
  const rs = await client.execute("SELECT name, rootpage FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
  return new Map(rs.rows.map((r) => [String(r.name), Number(r.rootpage)]));
}

export async function rowCount(client: Client, table: string): Promise<number> {
  const rs = await client.execute(`SELECT count(*) FROM ${quoteIdent(table)}`);
  return Number(rs.rows[0]![0]);
}

/** `PRAGMA foreign_key_check`: violating rows per child table. */
export async function foreignKeyViolations(client: Client): Promise<Record<string, number>> {
  const rs = await client.execute(`SELECT "table" AS t, count(*) AS n FROM pragma_foreign_key_check GROUP BY "table"`);
  return Object.fromEntries(rs.rows.map((r) => [String(r.t), Number(r.n)]));
}

const COUNTS = "strata_rehearse_writes";

/** Tables whose writes can be counted: ordinary tables (not virtual, not SQLite's). */
async function countableTables(client: Client, skip: (name: string) => boolean): Promise<string[]> {
  const rs = await client.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%'");
  return rs.rows.map((r) => String(r.name)).filter((n) => n !== COUNTS && !skip(n));
}

/**
 * Installs AFTER INSERT/UPDATE/DELETE triggers on every table, counting rows into a table of
 * the copy. Ordinary (not TEMP) objects: a TS migration's transaction takes the connection
 * with it, and temp objects die with their connection. Tables created during the migration are
 * not counted (their rows show as rebuilt or new tables instead).
 */
export async function startCountingWrites(client: Client, skip: (name: string) => boolean): Promise<void> {
  const stmts = [`CREATE TABLE IF NOT EXISTS ${COUNTS} (tbl TEXT PRIMARY KEY, n INTEGER NOT NULL)`, `DELETE FROM ${COUNTS}`];
  for (const [i, t] of (await countableTables(client, skip)).entries()) {
    const bump = `INSERT INTO ${COUNTS} (tbl, n) VALUES (${sqlLiteral(t)}, 1) ON CONFLICT (tbl) DO UPDATE SET n = n + 1`;
    for (const op of ["INSERT", "UPDATE", "DELETE"]) {
      stmts.push(`CREATE TRIGGER strata_rehearse_${op.toLowerCase()}_${i} AFTER ${op} ON ${quoteIdent(t)} BEGIN ${bump}; END`);
    }
  }
  await client.batch(stmts, "write");
}

/** Rows written per table since startCountingWrites; removes the triggers and the table. */
export async function stopCountingWrites(client: Client): Promise<Record<string, number>> {
  const rs = await client.execute(`SELECT tbl, n FROM ${COUNTS} ORDER BY tbl`);
  const triggers = await client.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'strata\\_rehearse\\_%' ESCAPE '\\'");
  await client.batch([...triggers.rows.map((r) => `DROP TRIGGER ${quoteIdent(String(r.name))}`), `DROP TABLE ${COUNTS}`], "write");
  return Object.fromEntries(rs.rows.map((r) => [String(r.tbl), Number(r.n)]));
}
