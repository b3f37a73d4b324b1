// What the engine reports per migration: plain values, shared by the engine and the read-back
// check that confirms them (kept apart so neither imports the other).
import type { Direction } from "../script/load.ts";

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
