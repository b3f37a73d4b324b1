import { StrataError } from "../errors.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `30`, `30s`, `2m`, `1h`, `500ms` (bare numbers are seconds) into milliseconds. */
export function parseDuration(text: string, what = "duration"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) {
    throw new StrataError("usage", `invalid ${what} "${text}"`, {
      hint: "use a number of seconds or a value like 500ms, 30s, 2m, 1h",
    });
  }
  const unit = (match[2] ?? "s").toLowerCase();
  return Math.round(Number(match[1]) * UNITS[unit]!);
}
