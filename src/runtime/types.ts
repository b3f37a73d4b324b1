/** The engine's vocabulary, shared by its parts and by the commands that call it. */
import type { MigrationFile } from "../script/discover.ts";
import type { Direction } from "../script/load.ts";
import type { AppliedRow, LockRow } from "./store.ts";

export type Outcome = "applied" | "reverted" | "already-applied" | "already-reverted";

export interface StepResult {
  version: string;
  name: string;
  direction: Direction;
  outcome: Outcome;
  durationMs: number;
  /** Set when the server's answer was lost and the outcome was learned by re-reading. */
  recoveredAfterLostResponse?: boolean;
}

export interface DbState {
  applied: AppliedRow[];
  lock: LockRow | undefined;
  /** Whether strata's tables exist yet. */
  initialized: boolean;
}

export interface PlannedRun {
  file: MigrationFile;
  direction: Direction;
}

export interface LockInfo {
  /** Another runner held the lock and we waited for it. */
  waited: boolean;
  /** A stale lock (expired lease or dead process) was taken over from this holder. */
  tookOverFrom: LockRow | undefined;
}

/** The outcome a step that committed reports. */
export function doneOutcome(direction: Direction): Outcome {
  return direction === "up" ? "applied" : "reverted";
}
