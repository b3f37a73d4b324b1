// The live schema as SQL text in a stable order: tables alphabetically, each
// followed by its indexes and triggers (alphabetically), then views, each
// followed by its INSTEAD OF triggers. Same schema → identical text.

import { compareNames, introspect, type Executor } from "./introspect.ts";
import { sameName, type Schema } from "../ddl/model.ts";

export async function dumpSchema(db: Executor): Promise<string> {
  return renderSchema(await introspect(db));
}

/** Schema → SQL script (each statement ends with ";\n"). */
export function renderSchema(schema: Schema): string {
  const out: string[] = [];
  const on = <T extends { name: string }>(items: T[], owner: string, table: (x: T) => string) =>
    items.filter((x) => sameName(table(x), owner)).sort((a, b) => compareNames(a.name, b.name));
  for (const t of [...schema.tables].sort((a, b) => compareNames(a.name, b.name))) {
    out.push(t.sql);
    out.push(...on(schema.indexes, t.name, (i) => i.table).map((i) => i.sql));
    out.push(...on(schema.triggers, t.name, (tr) => tr.table).map((tr) => tr.sql));
  }
  for (const v of [...schema.views].sort((a, b) => compareNames(a.name, b.name))) {
    out.push(v.sql);
    out.push(...on(schema.triggers, v.name, (tr) => tr.table).map((tr) => tr.sql));
  }
  return out.map((sql) => `${sql.trim()};\n`).join("");
}
