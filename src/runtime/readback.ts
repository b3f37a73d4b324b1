/**
 * "Applied" is said only of what was read back. After a run, the version rows of every version
 * it touched are read in the same write batch that releases the lock (a write batch, so a
 * replica forwards it to the primary and sees its own writes), and each step's claim is checked
 * against them here. Pure: no I/O.
 */
import type { Row } from "@libsql/client";
import { StrataError } from "../errors.ts";
import type { StepResult } from "./types.ts";

/** version → the runner that wrote its row (null: an older strata wrote it); absent: no row. */
export type VersionRows = Map<string, string | null>;

/** The rows of Store.selectVersionRows as VersionRows. */
export function versionRowsOf(rows: Row[]): VersionRows {
  return new Map(rows.map((r) => [String(r.version), r.applied_by === null ? null : String(r.applied_by)]));
}

/**
 * The steps as the database confirms them. The last step of each version decides (a redo goes
 * down then up): up needs the row, written by this runner ("applied") or by another one
 * ("already-applied", the only case reported as another runner's); down needs the row gone.
 * Anything else is a StrataError naming the version — the run is never reported as done.
 */
export function confirmSteps(steps: StepResult[], rows: VersionRows, me: string): StepResult[] {
  const last = new Map(steps.map((s, i) => [s.version, i]));
  return steps.map((s, i) => {
    if (last.get(s.version) !== i) return s;
    const present = rows.has(s.version);
    const by = rows.get(s.version);
    if (s.direction === "down") {
      if (!present) return s;
      throw unconfirmed(s, "its version row is still there");
    }
    if (!present) throw unconfirmed(s, "its version row is not there");
    if (by === me) return s.outcome === "applied" ? s : { ...s, outcome: "applied" };
    if (by === null || by === undefined) throw unconfirmed(s, "its version row was written by something other than a strata runner of this version");
    return s.outcome === "already-applied" ? s : { ...s, outcome: "already-applied" };
  });
}

function unconfirmed(s: StepResult, why: string): StrataError {
  return new StrataError("state", `${s.version}_${s.name} (${s.direction}) is not confirmed by the database: ${why}`, {
    hint: "run `strata status` to see what the database holds; nothing is reported as done that the database does not show",
    details: { version: s.version },
  });
}
