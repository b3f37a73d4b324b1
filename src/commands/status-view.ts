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

/** Each entry as `status` and `history` show it. One loop, not a map(info): see statusOf(). */
export function infoOf(entries: Entry[]): MigrationInfo[] {
  const list: MigrationInfo[] = new Array<MigrationInfo>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    list[i] = {
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
  return list;
}

export function statusOf(database: string, exists: boolean, files: MigrationFile[], applied: AppliedRow[], lock: StatusResult["lock"]): StatusResult {
  const entries = reconcile(files, applied);
  const problem = blockingProblems(entries);
  const result: StatusResult = {
    database,
    exists,
    current: currentVersion(entries) ?? null,
    head: files.length > 0 ? files[files.length - 1]!.version : null,
    applied: [],
    pending: [],
    changed: [],
    missing: [],
    failed: [],
    outOfOrder: [],
    lock,
    problems: problem ? [`${problem.message} — ${problem.hint}`] : [],
  };
  // One pass (each list in version order): this runs on every `status` start-up, in cold code.
  const infos = infoOf(entries);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    (e.state === "pending" ? result.pending : result.applied).push(infos[i]!);
    if (e.state === "changed" || e.state === "missing" || e.state === "failed") result[e.state].push(e.version);
    if (e.outOfOrder) result.outOfOrder.push(e.version);
  }
  return result;
}

/** `status --exit-code`: 1 when up would refuse to run, 3 when migrations are pending. */
export function statusExitCode(r: StatusResult, exitCode: boolean): number {
  return !exitCode ? ExitCode.ok : r.problems.length > 0 ? ExitCode.failure : r.pending.length > 0 ? ExitCode.pending : ExitCode.ok;
}
