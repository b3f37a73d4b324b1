/** bench/report.ts: a figure "moved" only beyond the noise (> 10 % and the ranges apart). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareToBaseline } from "../bench/report.ts";

const runs = (...ms: number[]) => ms.map((wallMs) => ({ wallMs, peakMb: null, cpuMs: null }));

test("bench baseline: slower, faster and noise are told apart", () => {
  const baseline = { "noop/strata": runs(20, 21, 22), "noop/dbmate": runs(16, 17, 18), "fresh/strata": runs(100, 120, 140), "gone/strata": runs(1) };
  const current = { "noop/strata": runs(30, 31, 33), "noop/dbmate": runs(12, 13, 14), "fresh/strata": runs(90, 135, 150), "new/strata": runs(5) };
  const byName = Object.fromEntries(compareToBaseline(baseline, current).map((c) => [c.series, c.verdict]));
  assert.deepEqual(byName, { "noop/strata": "slower", "noop/dbmate": "faster", "fresh/strata": "same" });
});
