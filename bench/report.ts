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
