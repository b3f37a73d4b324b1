/**
 * `status` as a value, from the files and the version rows: pure, so that ./inspect.ts and the
 * start-up fast path (src/cli/fast.ts) build the very same result.
 */
import { ExitCode } from "../errors.ts";
import { blockingProblems, currentVersion, reconcile, type Entry, type EntryState } from "../runtime/plan.ts";
import type { MigrationFile } from "../script/discover.ts";
import type { AppliedRow, LockRow } from "../runtime/store.ts";

export interface MigrationInfo {
  version: string;
  name: string;
  state: EntryState;
  kind: "sql" | "ts" | null;
  reversible: boolean;
  appliedAt: string | null;
  durationMs: number | null;
  outOfOrder: boolean;
  file: string | null;
  checksum: string | null;
}

export interface StatusResult {
  database: string;
  /** False when the database (file) does not exist yet. */
  exists: boolean;
  current: string | null;
  head: string | null;
  applied: MigrationInfo[];
  pending: MigrationInfo[];
  changed: string[];
  missing: string[];
  failed: string[];
  outOfOrder: string[];
  /** The run lock, when a row is there; `stale` says why the next run will take it over. */
  lock: (LockRow & { stale: "lease expired" | "process is gone" | null }) | null;
  /** One line per problem that makes `up` refuse, with its fix. */
  problems: string[];
}

export function info(e: Entry): MigrationInfo {
  return {
    version: e.version,
    name: e.name,
    state: e.state,
    kind: e.file?.kind ?? null,
    reversible: e.file ? e.file.downPath !== undefined : false,
    appliedAt: e.row?.appliedAt ?? null,
    durationMs: e.row?.durationMs ?? null,
    outOfOrder: e.outOfOrder,
    file: e.file?.upPath ?? null,
    checksum: e.row?.checksum ?? e.file?.checksum ?? null,
  };
}

export function statusOf(database: string, exists: boolean, files: MigrationFile[], applied: AppliedRow[], lock: StatusResult["lock"]): StatusResult {
  const entries = reconcile(files, applied);
  const problem = blockingProblems(entries);
  const pick = (st: EntryState) => entries.filter((e) => e.state === st).map((e) => e.version);
  return {
    database,
    exists,
    current: currentVersion(entries) ?? null,
    head: files.at(-1)?.version ?? null,
    applied: entries.filter((e) => e.state !== "pending").map(info),
    pending: entries.filter((e) => e.state === "pending").map(info),
    changed: pick("changed"),
    missing: pick("missing"),
    failed: pick("failed"),
    outOfOrder: entries.filter((e) => e.outOfOrder).map((e) => e.version),
    lock,
    problems: problem ? [`${problem.message} — ${problem.hint}`] : [],
  };
}

/** `status --exit-code`: 1 when up would refuse to run, 3 when migrations are pending. */
export function statusExitCode(r: StatusResult, exitCode: boolean): number {
  return !exitCode ? ExitCode.ok : r.problems.length > 0 ? ExitCode.failure : r.pending.length > 0 ? ExitCode.pending : ExitCode.ok;
}
