/** "Applied" only for what the version rows show (src/runtime/readback.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { confirmSteps } from "../src/runtime/readback.ts";
import type { StepResult } from "../src/runtime/migrator.ts";

const step = (version: string, direction: "up" | "down", outcome: StepResult["outcome"]): StepResult => ({ version, name: `m${version}`, direction, outcome, durationMs: 1 });

test("a step is confirmed only by the row it claims; 'by another runner' only with another runner's id", () => {
  const rows = new Map<string, string | null>([["1", "me"], ["2", "other"], ["3", null]]);
  assert.deepEqual(confirmSteps([step("1", "up", "applied")], rows, "me").map((s) => s.outcome), ["applied"]);
  assert.deepEqual(confirmSteps([step("1", "up", "already-applied")], rows, "me").map((s) => s.outcome), ["applied"], "our own row: we applied it");
  assert.deepEqual(confirmSteps([step("2", "up", "applied")], rows, "me").map((s) => s.outcome), ["already-applied"], "another runner's row");
  assert.throws(() => confirmSteps([step("4", "up", "applied")], rows, "me"), /4_m4 \(up\) is not confirmed.*not there/);
  assert.throws(() => confirmSteps([step("3", "up", "already-applied")], rows, "me"), /not confirmed/, "no runner id: never 'another runner'");
  assert.deepEqual(confirmSteps([step("4", "down", "reverted")], rows, "me").map((s) => s.outcome), ["reverted"]);
  assert.throws(() => confirmSteps([step("1", "down", "reverted")], rows, "me"), /still there/);
  // redo: down then up of one version; the last step decides.
  assert.deepEqual(confirmSteps([step("1", "down", "reverted"), step("1", "up", "applied")], rows, "me").map((s) => s.outcome), ["reverted", "applied"]);
});
