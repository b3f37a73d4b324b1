// Public API of strata's autogenerate: introspect a database, compare two
// schemas, render the migration, dump a schema.

export { introspect, isIgnoredName, compareNames } from "./introspect.ts";
export type { Executor } from "./introspect.ts";
export type {
  Column,
  ForeignKey,
  GeneratedKind,
  Index,
  IndexColumn,
  Schema,
  Table,
  TableConstraint,
  TableConstraintKind,
  Trigger,
  View,
} from "../ddl/model.ts";
export { byName, sameName } from "../ddl/model.ts";
export { compareSchemas } from "./compare.ts";
export { addColumnBlocker, dropColumnBlocker } from "./in-place.ts";
export type { CompareOptions, RebuildReason, RebuildReasonKind, RenameCandidate, SchemaDiff, TableDiff, TableOp, ViewOp } from "./compare.ts";
export { renderMigration, summarize, commentLines } from "./render.ts";
export type { Migration, RenderOptions } from "./render.ts";
export { unenforceableForeignKeys, UNENFORCEABLE_FK_HINT } from "./validate.ts";
export { dumpSchema, renderSchema } from "./dump.ts";
export { rebuildTableSql, temporaryName } from "../ddl/rebuild.ts";
export type { RebuildOptions } from "../ddl/rebuild.ts";
export { normalizeSql, quoteIdent } from "../ddl/tokenize.ts";
export { defaultAsExpression } from "../ddl/default-value.ts";
