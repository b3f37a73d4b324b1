/**
 * Statistics and the markdown/JSON report.
 */
import type { Measurement } from "./measure.ts";

/** One timed run, as kept in the JSON results. */
export interface Sample {
  wallMs: number;
  peakMb: number | null;
  /** User + system CPU time (GNU time, 10 ms resolution), or null. */
  cpuMs: number | null;
  /** Workload-specific numbers (round trips, rows/s, …). */
  extra?: Record<string, unknown>;
}

export function sample(m: Measurement, extra?: Record<string, unknown>): Sample {
  return { wallMs: round(m.wallMs, 1), peakMb: m.peakMb === null ? null : round(m.peakMb, 1), cpuMs: m.cpuMs === null ? null : round(m.cpuMs, 0), ...(extra ? { extra } : {}) };
}

export interface Summary {
  n: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Highest peak RSS over all repetitions (MB). */
  peakMb: number | null;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(samples: Sample[]): Summary {
  const walls = samples.map((s) => s.wallMs);
  const peaks = samples.map((s) => s.peakMb).filter((p): p is number => p !== null);
  return {
    n: samples.length,
    medianMs: round(median(walls), 1),
    minMs: round(Math.min(...walls), 1),
    maxMs: round(Math.max(...walls), 1),
    peakMb: peaks.length ? round(Math.max(...peaks), 1) : null,
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtTime(s: Summary): string {
  if (s.n === 1) return fmtMs(s.medianMs);
  return `${fmtMs(s.medianMs)} <sub>(${fmtMs(s.minMs)}–${fmtMs(s.maxMs)})</sub>`;
}

export function fmtMb(mb: number | null | undefined): string {
  return mb === null || mb === undefined ? "–" : `${mb.toFixed(0)} MB`;
}

export function fmtRate(perSecond: number): string {
  return `${Math.round(perSecond).toLocaleString("en-US")} rows/s`;
}

export type Verdict = "met" | "missed" | "info" | "n/a" | "pending" | "error";

export function verdictCell(v: Verdict, note?: string): string {
  const label = v === "met" ? "✅ met" : v === "missed" ? "❌ **missed**" : v;
  return note ? `${label} (${note})` : label;
}

/** One line of the results table. */
export interface Row {
  workload: string;
  strata: string;
  reference: string;
  ratio: string;
  strataPeak: string;
  referencePeak: string;
  target: string;
  verdict: string;
}

export function markdownTable(rows: Row[]): string {
  const head = ["workload", "strata (median, range)", "reference (median, range)", "ratio", "strata peak RSS", "reference peak RSS", "target", "result"];
  const esc = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${[r.workload, r.strata, r.reference, r.ratio, r.strataPeak, r.referencePeak, r.target, r.verdict].map(esc).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** One timed series of this run against the same series in a saved baseline. */
export interface BaselineChange {
  series: string;
  beforeMs: number;
  afterMs: number;
  /** "slower" / "faster": moved beyond the noise; "same": within it. */
  verdict: "slower" | "faster" | "same";
}

/** Relative change below which a figure counts as unchanged whatever the ranges say. */
const NOISE_FRACTION = 0.1;

/**
 * Which figures moved beyond the noise: a series moved when its median changed by more than
 * 10 % AND the two runs' ranges (min–max over repetitions) do not overlap, i.e. every
 * repetition of one run was slower than every one of the other. Compare the peers' series too:
 * when dbmate moved as well, the machine did.
 */
export function compareToBaseline(baseline: Record<string, Sample[]>, current: Record<string, Sample[]>): BaselineChange[] {
  const changes: BaselineChange[] = [];
  for (const [series, now] of Object.entries(current)) {
    const then = baseline[series];
    if (!then?.length || !now.length) continue;
    const b = summarize(then);
    const a = summarize(now);
    const moved = Math.abs(a.medianMs / b.medianMs - 1) > NOISE_FRACTION;
    const verdict = moved && a.minMs > b.maxMs ? "slower" : moved && a.maxMs < b.minMs ? "faster" : "same";
    changes.push({ series, beforeMs: b.medianMs, afterMs: a.medianMs, verdict });
  }
  return changes;
}

export function baselineMarkdown(file: string, changes: BaselineChange[]): string {
  const moved = changes.filter((c) => c.verdict !== "same");
  const lines = [
    `## Against the baseline ${file}`,
    "",
    moved.length === 0 ? "No figure moved beyond the noise (> 10 % and ranges apart)." : `${moved.length} figure(s) moved beyond the noise (> 10 % and ranges apart): ${moved.map((c) => `${c.series} ${c.verdict}`).join(", ")}.`,
    "",
    "| series | baseline median | this run | change | moved? |",
    "|---|---|---|---|---|",
    ...changes.map((c) => `| ${c.series} | ${fmtMs(c.beforeMs)} | ${fmtMs(c.afterMs)} | ${c.afterMs >= c.beforeMs ? "+" : ""}${((c.afterMs / c.beforeMs - 1) * 100).toFixed(0)} % | ${c.verdict === "same" ? "no (noise)" : `**${c.verdict}**`} |`),
  ];
  return lines.join("\n");
}
