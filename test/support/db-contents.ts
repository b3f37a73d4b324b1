/** What a database holds, for comparing two of them exactly (backup and restore round trips). */
import { Buffer } from "node:buffer";
import type { Client } from "@libsql/client";

/** Every row of every user table, typed, in a stable order; plus sqlite_sequence and the schema. */
export async function contents(c: Client): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const schema = await c.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_lock' ORDER BY type, name");
  out["#schema"] = schema.rows.map((r) => `${r.type} ${r.name}: ${r.sql}`);
  const tables = schema.rows.filter((r) => r.type === "table" && !String(r.sql).startsWith("CREATE VIRTUAL")).map((r) => String(r.name));
  const hasSequence = (await c.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).rows.length > 0;
  for (const name of [...tables, ...(hasSequence ? ["sqlite_sequence"] : [])]) {
    let rs;
    try {
      rs = await c.execute(`SELECT rowid AS "#rowid", * FROM "${name}" ORDER BY 1`);
    } catch {
      rs = await c.execute(`SELECT * FROM "${name}" ORDER BY 1, 2`);
    }
    out[name] = rs.rows.map((r) => Array.from(r as ArrayLike<unknown>, (v) => (v instanceof ArrayBuffer ? `blob:${Buffer.from(v).toString("hex")}` : `${typeof v}:${String(v)}`)));
  }
  return out;
}
