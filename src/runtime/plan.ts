/**
 * Pure planning: reconciling the files on disk with the rows in the version table, and
 * resolving revision expressions. No I/O here, so it is cheap to test exhaustively.
 */
import { StrataError } from "../errors.ts";
import { compareVersions, versionKey, type MigrationFile } from "../script/discover.ts";
import type { AppliedRow } from "./store.ts";

export type EntryState =
  | "applied"
  | "pending"
  /** applied, but its files changed since */
  | "changed"
  /** applied, but no file for it exists */
  | "missing"
  /** a no-transaction migration that started and never finished */
  | "failed";

export interface Entry {
  version: string;
  name: string;
  state: EntryState;
  file: MigrationFile | undefined;
  row: AppliedRow | undefined;
  /** Pending, yet older than the newest applied migration (e.g. merged from another branch). */
  outOfOrder: boolean;
}

export function reconcile(files: MigrationFile[], applied: AppliedRow[]): Entry[] {
  return reconcileInOrder(files, applied) ?? reconcileByVersion(files, applied);
}

/**
 * The usual case in one pass: row i is file i's, written alike (the rows come ordered by
 * version), so the files applied are a prefix and the rest is pending, none out of order. A
 * no-op start-up spends most of its time in cold code, where the general path's Map and sort of
 * 200 entries cost more than the database read. Undefined when the rows do not line up.
 */
function reconcileInOrder(files: MigrationFile[], applied: AppliedRow[]): Entry[] | undefined {
  if (applied.length > files.length) return undefined;
  const entries: Entry[] = new Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const row = applied[i];
    if (row === undefined) {
      entries[i] = { version: file.version, name: file.name, state: "pending", file, row, outOfOrder: false };
      continue;
    }
    if (row.version !== file.version) return undefined;
    const state: EntryState = row.state === "started" ? "failed" : row.checksum !== file.checksum ? "changed" : "applied";
    entries[i] = { version: file.version, name: file.name, state, file, row, outOfOrder: false };
  }
  return entries;
}

/** The general reconcile, by version key (exported for the test that holds the in-order path to it). */
export function reconcileByVersion(files: MigrationFile[], applied: AppliedRow[]): Entry[] {
  const rows = new Map(applied.map((r) => [versionKey(r.version), r]));
  const newestApplied = applied.reduce<string | undefined>(
    (max, r) => (max === undefined || compareVersions(r.version, max) > 0 ? r.version : max),
    undefined,
  );
  const entries: Entry[] = [];
  for (const file of files) {
    const key = versionKey(file.version);
    const row = rows.get(key);
    rows.delete(key);
    let state: EntryState;
    if (!row) state = "pending";
    else if (row.state === "started") state = "failed";
    else if (row.checksum !== file.checksum) state = "changed";
    else state = "applied";
    const outOfOrder = state === "pending" && newestApplied !== undefined && compareVersions(file.version, newestApplied) < 0;
    entries.push({ version: file.version, name: file.name, state, file, row, outOfOrder });
  }
  for (const row of rows.values()) {
    entries.push({ version: row.version, name: row.name, state: row.state === "started" ? "failed" : "missing", file: undefined, row, outOfOrder: false });
  }
  return entries.sort((a, b) => compareVersions(a.version, b.version));
}

export function isApplied(e: Entry): boolean {
  return e.state !== "pending";
}

/** The version the database is at: the newest applied entry, or undefined at base. */
export function currentVersion(entries: Entry[]): string | undefined {
  // Backwards, without a call per entry (a no-op start-up runs this over every migration).
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.state !== "pending") return entries[i]!.version;
  return undefined;
}

/** Problems that forbid up/down, with the command that fixes each. */
export function blockingProblems(entries: Entry[]): StrataError | undefined {
  let any = false;
  for (let i = 0; i < entries.length && !any; i++) any = entries[i]!.state !== "applied" && entries[i]!.state !== "pending";
  if (!any) return undefined;
  const failed = entries.filter((e) => e.state === "failed");
  if (failed.length > 0) {
    const v = failed.map((e) => e.version).join(", ");
    return new StrataError("state", `migration ${v} started without a transaction and did not finish (failed midway)`, {
      hint: `inspect the database, then run \`strata resolve ${failed[0]!.version} --applied\` or \`--reverted\``,
      details: { failed: failed.map((e) => e.version) },
    });
  }
  const missing = entries.filter((e) => e.state === "missing");
  if (missing.length > 0) {
    return new StrataError("state", `the database has applied migration(s) with no file: ${missing.map((e) => `${e.version}_${e.name}`).join(", ")}`, {
      hint: "restore the files (wrong --dir or branch?), or `strata stamp <rev>` / `strata resolve <version> --reverted` to forget them",
      details: { missing: missing.map((e) => e.version) },
    });
  }
  const changed = entries.filter((e) => e.state === "changed");
  if (changed.length > 0) {
    return new StrataError("state", `applied migration file(s) changed since they ran: ${changed.map((e) => e.file!.upPath.split("/").pop()).join(", ")}`, {
      hint: "revert the edit and write a new migration instead; if the edit is intended, `strata resolve <version> --applied` records the new checksum",
      details: { changed: changed.map((e) => e.version) },
    });
  }
  return undefined;
}

/**
 * Resolves a revision: a full version, a unique prefix, `head`, `base`, or `+N` / `-N` relative
 * to the current version. Returns the index in `entries` of the target (-1 for base).
 */
export function resolveRevision(rev: string, entries: Entry[]): number {
  const text = rev.trim();
  if (text === "head") return entries.length - 1;
  if (text === "base") return -1;
  const rel = /^([+-])(\d+)$/.exec(text);
  if (rel) {
    let cur = -1;
    entries.forEach((e, i) => {
      if (isApplied(e)) cur = i;
    });
    const target = cur + (rel[1] === "+" ? 1 : -1) * Number(rel[2]);
    if (target < -1 || target >= entries.length) {
      throw new StrataError("usage", `revision ${text} is out of range (current position ${cur + 1} of ${entries.length})`, {
        hint: "see `strata history`",
      });
    }
    return target;
  }
  if (!/^\d+$/.test(text)) {
    throw new StrataError("usage", `invalid revision "${text}"`, {
      hint: "use a version, a unique prefix of one, head, base, +N or -N",
    });
  }
  const exact = entries.findIndex((e) => e.version === text || BigInt(e.version) === BigInt(text));
  if (exact >= 0) return exact;
  const matches = entries.map((e, i) => [e, i] as const).filter(([e]) => e.version.startsWith(text));
  if (matches.length === 1) return matches[0]![1];
  if (matches.length > 1) {
    throw new StrataError("usage", `revision "${text}" is ambiguous: ${matches.map(([e]) => e.version).join(", ")}`, {
      hint: "give more digits",
    });
  }
  throw new StrataError("usage", `revision "${text}" names no migration`, { hint: "see `strata history` for the versions" });
}
