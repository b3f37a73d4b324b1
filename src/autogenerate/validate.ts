// Declarations SQLite accepts but cannot enforce. SQLite stores any foreign
// key, but checking one needs a parent key that is the parent's PRIMARY KEY
// or has a UNIQUE constraint or index over exactly those columns; otherwise
// every check of it fails with "foreign key mismatch". The implicit rowid
// (`REFERENCES p(rowid)`, or a bare `REFERENCES p` when p declares no PRIMARY
// KEY) is neither. strata's engine checks foreign keys before every commit,
// so such a schema could never be migrated: autogenerate and check refuse it
// up front, by the same rule SQLite applies (locating the parent index).

import { quoteIdent } from "../ddl/tokenize.ts";
import { byName, sameName, type ForeignKey, type Schema, type Table } from "../ddl/model.ts";

const ROWID_NAMES = new Set(["rowid", "oid", "_rowid_"]);

/** One line per foreign key SQLite cannot check ("foreign key mismatch"). */
export function unenforceableForeignKeys(schema: Schema): string[] {
  const problems: string[] = [];
  for (const table of schema.tables) {
    for (const fk of table.foreignKeys) {
      const parent = byName(schema.tables, fk.table);
      // A missing parent is not a mismatch: SQLite reports its rows as violations instead.
      if (!parent || parent.virtual || parentKeyIsUnique(parent, fk, schema)) continue;
      const from = fk.from.map(quoteIdent).join(", ");
      const to = fk.to.every((c) => c === null) ? "" : `(${fk.to.join(", ")})`;
      const rowid = fk.to.some((c) => c !== null && ROWID_NAMES.has(c.toLowerCase()) && !byName(parent.columns, c));
      const implicit = fk.to.every((c) => c === null);
      problems.push(
        `${quoteIdent(table.name)}.${from} REFERENCES ${quoteIdent(fk.table)}${to}: ` +
          (rowid || implicit
            ? `SQLite cannot enforce a foreign key to the implicit rowid ("foreign key mismatch")`
            : `SQLite cannot enforce it ("foreign key mismatch"): the parent columns are neither its PRIMARY KEY nor UNIQUE`),
      );
    }
  }
  return problems;
}

/** SQLite's rule: the parent columns are exactly its PRIMARY KEY, or exactly a UNIQUE constraint or full unique index. */
function parentKeyIsUnique(parent: Table, fk: ForeignKey, schema: Schema): boolean {
  const pk = parent.columns.filter((c) => c.pk > 0).map((c) => c.name.toLowerCase());
  if (fk.to.every((c) => c === null)) return pk.length > 0 && pk.length === fk.from.length;
  const key = fk.to.map((c) => (c ?? "").toLowerCase());
  const same = (cols: string[]) => cols.length === key.length && key.every((k) => cols.includes(k)) && new Set(key).size === key.length;
  if (same(pk)) return true;
  if (key.length === 1 && parent.columns.some((c) => c.unique && c.name.toLowerCase() === key[0])) return true;
  if (parent.constraints.some((k) => k.kind === "unique" && same(k.columns))) return true;
  return schema.indexes.some(
    (i) => sameName(i.table, parent.name) && i.unique && i.partial === null && i.columns.every((c) => c.name !== null) && same(i.columns.map((c) => c.name!.toLowerCase())),
  );
}

export const UNENFORCEABLE_FK_HINT =
  "reference the parent's PRIMARY KEY or a UNIQUE column (an INTEGER PRIMARY KEY column is the rowid under its own name)";
