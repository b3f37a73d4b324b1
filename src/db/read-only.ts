/**
 * Reads a few statements from an existing local database file, for the start-up fast path
 * (src/cli/fast.ts). Inside the compiled binary this is bun:sqlite: it opens a file in well
 * under a millisecond, where loading libSQL's native module costs 5–7 ms and 22 MB. It is used
 * read-only — the file is opened with SQLITE_OPEN_READONLY, in one read transaction — so this
 * second engine never writes a byte and never sees a migration; any error (a libSQL-only schema
 * it cannot parse, a busy or hot-journalled file, …) makes the caller fall back to the normal
 * path through @libsql/client. Under Node and Deno the same statements go through
 * @libsql/client.
 */
export type Rows = Record<string, unknown>[];

interface BunStatement {
  all(): Rows;
}
interface BunDatabase {
  exec(sql: string): void;
  query(sql: string): BunStatement;
  close(): void;
}
type BunSqlite = { Database: new (file: string, options: { readonly: boolean }) => BunDatabase };

/** A variable, so Node's and Deno's module graphs never try to resolve Bun's built-in. */
const BUN_SQLITE = "bun:sqlite";

export async function readLocal(url: string, file: string, statements: string[], busyTimeoutMs: number): Promise<Rows[]> {
  if (!("Bun" in globalThis)) {
    // Loaded here: in the binary the client's module graph is what this path avoids.
    const { createDbClient } = await import("./connection.ts");
    const client = createDbClient(url, { busyTimeoutMs });
    try {
      return (await client.batch(statements, "read")).map((rs) => rs.rows as unknown as Rows);
    } finally {
      client.close();
    }
  }
  const { Database } = (await import(BUN_SQLITE)) as BunSqlite;
  const db = new Database(file, { readonly: true });
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    db.exec("BEGIN");
    try {
      return statements.map((sql) => db.query(sql).all());
    } finally {
      db.exec("COMMIT");
    }
  } finally {
    db.close();
  }
}
