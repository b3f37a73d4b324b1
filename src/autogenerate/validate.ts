// Declarations SQLite accepts but cannot enforce. A foreign key whose parent
// column is the rowid (`REFERENCES p(rowid)`) is stored without complaint, yet
// every foreign-key check on it fails with "foreign key mismatch": a parent
// key must be a PRIMARY KEY or UNIQUE column, and the implicit rowid is
// neither. strata's engine checks foreign keys before every commit, so such a
// schema could never be migrated; autogenerate and check refuse it up front.

import { quoteIdent } from "../ddl/tokenize.ts";
import { byName, type Schema } from "../ddl/model.ts";

const ROWID_NAMES = new Set(["rowid", "oid", "_rowid_"]);

/** One line per foreign key that references a rowid which is not a declared column. */
export function unenforceableForeignKeys(schema: Schema): string[] {
  const problems: string[] = [];
  for (const table of schema.tables) {
    for (const fk of table.foreignKeys) {
      const parent = byName(schema.tables, fk.table);
      fk.to.forEach((to, i) => {
        if (to === null || !ROWID_NAMES.has(to.toLowerCase())) return;
        if (parent && byName(parent.columns, to)) return; // a real column that happens to be called rowid
        problems.push(
          `${quoteIdent(table.name)}.${quoteIdent(fk.from[i] ?? "?")} REFERENCES ${quoteIdent(fk.table)}(${to}): ` +
            `SQLite cannot enforce a foreign key to the implicit rowid ("foreign key mismatch")`,
        );
      });
    }
  }
  return problems;
}

export const UNENFORCEABLE_FK_HINT =
  "reference the parent's INTEGER PRIMARY KEY column instead (it is the rowid under its own name)";
