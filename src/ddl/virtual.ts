// Changing a virtual table keeps its contents where the module makes that
// possible. A virtual table's storage belongs to its module, so SQLite's
// rebuild procedure does not apply; for the modules SQLite ships the rows can
// still be carried over:
//   - fts3/fts4/fts5 holding their own content, rtree: create the new table
//     under a temporary name, copy the shared columns (and the fts rowid,
//     which external tables join on), drop the old one, rename;
//   - fts with external content (`content='docs'`): recreate it and rebuild
//     the index from its content table ('rebuild' command);
//   - contentless fts (`content=''`), a change of module, or any other module
//     (whose columns and storage strata cannot know): dropped and recreated,
//     its contents lost, and the file says so.

import { identValue, isIdentToken, matchingParen, quoteIdent, quoteString, significantTokens, sourceOf, splitTopLevel } from "./tokenize.ts";
import { renameCreateTable } from "./parse.ts";

export interface VirtualTable {
  /** Module name, lower-cased ("fts5", "rtree"…). */
  module: string;
  /** Column names as declared (lower-cased), for the modules whose arguments strata knows. */
  columns: string[];
  /** `key = value` arguments (fts options), keys lower-cased, values unquoted. */
  options: Record<string, string>;
}

const FTS = new Set(["fts3", "fts4", "fts5"]);
const RTREE = new Set(["rtree", "rtree_i32"]);

export function parseVirtualTable(sql: string): VirtualTable {
  const tokens = significantTokens(sql);
  const using = tokens.findIndex((t) => t.text.toUpperCase() === "USING");
  const module = (tokens[using + 1] ? identValue(tokens[using + 1]!) : "").toLowerCase();
  const open = tokens.findIndex((t, i) => i > using && t.text === "(");
  const args = open === -1 ? [] : splitTopLevel(tokens, open + 1, matchingParen(tokens, open)).filter((a) => a.length > 0);
  const columns: string[] = [];
  const options: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.findIndex((t) => t.text === "=");
    if (eq > 0 && !RTREE.has(module)) {
      const value = arg[eq + 1];
      options[identValue(arg[0]!).toLowerCase()] = value === undefined ? "" : value.kind === "string" || value.kind === "quoted" ? identValue(value) : sourceOf(sql, arg.slice(eq + 1));
    } else {
      // rtree auxiliary columns are written `+name`.
      const head = arg[0]!.text === "+" ? arg[1] : arg[0];
      if (head && isIdentToken(head)) columns.push(identValue(head).toLowerCase());
    }
  }
  return { module, columns, options };
}

export type VirtualCopy = "rows" | "rebuild" | "none";

/** How a change from `fromSql` to `toSql` keeps the contents, and why not when it can't. */
export function virtualCopy(fromSql: string, toSql: string): { kind: VirtualCopy; why: string } {
  const from = parseVirtualTable(fromSql);
  const to = parseVirtualTable(toSql);
  if (from.module !== to.module) return { kind: "none", why: `the module changes (${from.module} → ${to.module})` };
  if (!FTS.has(to.module) && !RTREE.has(to.module)) return { kind: "none", why: `strata does not know module ${to.module}'s storage` };
  if (FTS.has(to.module) && "content" in to.options) {
    return to.options.content === "" ? { kind: "none", why: "a contentless fts table (content='') keeps nothing to copy into" } : { kind: "rebuild", why: "" };
  }
  if (FTS.has(from.module) && from.options.content === "") return { kind: "none", why: "a contentless fts table (content='') has nothing to read back" };
  // fts rows keep their rowid even with no column in common, as an ordinary table's rows would.
  if (RTREE.has(to.module) && shared(from, to).length === 0) return { kind: "none", why: "the two versions share no column" };
  return { kind: "rows", why: "" };
}

export function virtualCopyKind(fromSql: string, toSql: string): VirtualCopy {
  return virtualCopy(fromSql, toSql).kind;
}

function shared(from: VirtualTable, to: VirtualTable): string[] {
  return to.columns.filter((c) => from.columns.includes(c));
}

/** The statements that turn virtual table `name` from `fromSql` into `toSql`, keeping what it can. */
export function recreateVirtualSql(name: string, fromSql: string, toSql: string, tmp: string): string[] {
  const q = quoteIdent(name);
  switch (virtualCopyKind(fromSql, toSql)) {
    case "none":
      return [`DROP TABLE ${q}`, toSql];
    case "rebuild":
      return [`DROP TABLE ${q}`, toSql, `INSERT INTO ${q} (${q}) VALUES (${quoteString("rebuild")})`];
    case "rows": {
      const from = parseVirtualTable(fromSql);
      const to = parseVirtualTable(toSql);
      // An fts rowid is what external tables join on; an rtree's first column is its rowid already.
      const cols = [...(FTS.has(to.module) ? ["rowid"] : []), ...shared(from, to).map(quoteIdent)].join(", ");
      return [
        renameCreateTable(toSql, tmp),
        `INSERT INTO ${quoteIdent(tmp)} (${cols})\n  SELECT ${cols} FROM ${q}`,
        `DROP TABLE ${q}`,
        `ALTER TABLE ${quoteIdent(tmp)} RENAME TO ${q}`,
      ];
    }
  }
}

/** What the generated file says about the contents. */
export function virtualCopyNote(name: string, fromSql: string, toSql: string): string {
  const q = quoteIdent(name);
  switch (virtualCopyKind(fromSql, toSql)) {
    case "rows":
      return `virtual table ${q} is recreated and its rows copied (columns both versions declare)`;
    case "rebuild":
      return `virtual table ${q} is recreated and its index rebuilt from its content table`;
    case "none":
      return `virtual table ${q} is dropped and recreated: its contents are not copied (${virtualCopy(fromSql, toSql).why})`;
  }
}
