/** Plain-text renderings of command results (stdout when not --json). */
import { compareVersions } from "../script/discover.ts";
import type { MigrateResult } from "../commands/migrate.ts";
import type { CurrentResult, HistoryResult, MigrationInfo, StatusResult } from "../commands/inspect.ts";
import type { ResolveResult, StampResult, UnlockResult } from "../commands/record.ts";
import type { NewResult } from "../commands/new.ts";
import type { AutogenerateResult, CheckResult } from "../commands/schema.ts";

/**
 * Columns padded to their widest cell, two spaces apart. `status` renders 200 rows of this on
 * every start-up, in Bun's cold interpreter: no callbacks, and one flat loop over the cells in
 * each pass — a helper called per row, or about a thousand loop iterations in one function, gets
 * compiled by the JIT, which costs more than it saves in a ~20 ms run.
 */
export function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  // The last column is never padded: its width is not needed.
  const widths: number[] = new Array<number>(Math.max(0, rows[0]!.length - 1)).fill(0);
  measure(rows, widths);
  return pad(rows, widths).join("\n");
}

function measure(rows: string[][], widths: number[]): void {
  for (let j = 0, i = 0; j < rows.length; ) {
    if (i === widths.length) {
      j++;
      i = 0;
      continue;
    }
    const n = (rows[j]![i] ?? "").length;
    if (n > widths[i]!) widths[i] = n;
    i++;
  }
}

function pad(rows: string[][], widths: number[]): string[] {
  const lines: string[] = new Array<string>(rows.length);
  let line = "";
  for (let j = 0, i = 0; j < rows.length; ) {
    const row = rows[j]!;
    if (i < row.length - 1) {
      line += row[i]!.padEnd(widths[i] ?? 0) + "  ";
      i++;
      continue;
    }
    lines[j] = (line + (row[row.length - 1] ?? "")).trimEnd();
    line = "";
    i = 0;
    j++;
  }
  return lines;
}

const LABEL: Record<string, string> = {
  applied: "applied",
  pending: "pending",
  changed: "CHANGED",
  missing: "MISSING FILE",
  failed: "FAILED MIDWAY",
};

function migrationRows(list: MigrationInfo[], withState: boolean): string[][] {
  const rows: string[][] = new Array<string[]>(list.length);
  for (let i = 0; i < list.length; i++) {
    const m = list[i]!;
    rows[i] = withState ? [m.version, m.name, LABEL[m.state]! + (m.outOfOrder ? " (out of order)" : ""), m.appliedAt ?? ""] : [m.version, m.name, m.appliedAt ?? ""];
  }
  return rows;
}

export function renderMigrate(r: MigrateResult): string {
  if (r.dryRun) {
    if (r.plan.length === 0) return `-- dry run: nothing to do; database is at ${r.from ?? "base"}`;
    const out = [`-- dry run on ${r.database}: ${r.from ?? "base"} -> ${r.to ?? "base"}; nothing was changed`];
    for (const p of r.plan) {
      out.push("", `-- ${p.direction} ${p.version}_${p.name} (${p.file})${p.transaction ? "" : " [no transaction]"}`);
      if (p.statements) out.push(...p.statements.map((s) => s + ";"));
      else out.push(`-- runs ${p.direction}(tx) exported by the TypeScript module`);
    }
    return out.join("\n");
  }
  if (r.steps.length === 0) return `database is at ${r.to ?? "base"} (nothing to do)`;
  const rows = r.steps.map((s) => [s.direction === "up" ? "applied" : "reverted", s.version, s.name, `${s.durationMs} ms`, s.outcome.startsWith("already") ? "(by another runner)" : ""]);
  return `${table(rows)}\ndatabase is at ${r.to ?? "base"}`;
}

export function renderStatus(r: StatusResult): string {
  const out = [`database: ${r.database}${r.exists ? "" : " (does not exist yet)"}`, `current:  ${r.current ?? "base"}${r.current && r.current === r.head && r.pending.length === 0 ? " (head)" : ""}`];
  // Each list is in version order already; only both together need merging.
  const all = r.pending.length === 0 ? r.applied : r.applied.length === 0 ? r.pending : [...r.applied, ...r.pending].sort((a, b) => compareVersions(a.version, b.version));
  if (all.length > 0) {
    const rows = migrationRows(all, true);
    rows.unshift(["VERSION", "NAME", "STATE", "APPLIED AT"]);
    out.push("", table(rows));
  }
  out.push("", `${r.applied.length} applied, ${r.pending.length} pending`);
  if (r.lock) {
    const stale = r.lock.stale ? ` — STALE (${r.lock.stale}): the next run takes it over` : "";
    out.push(`lock: held by ${r.lock.host} pid ${r.lock.pid} (${r.lock.command}) since ${r.lock.startedAt}, lease until ${r.lock.expiresAt}${stale}`);
  }
  for (const p of r.problems) out.push(`problem: ${p}`);
  return out.join("\n");
}

export function renderCurrent(r: CurrentResult): string {
  if (!r.current) return "base (no migration applied)";
  return `${r.current} ${r.name ?? ""}${r.isHead ? " (head)" : ""}`.trim();
}

export function renderHistory(r: HistoryResult, verbose: boolean): string {
  if (r.log) {
    if (r.log.length === 0) return "audit log is empty";
    return table([
      ["AT", "COMMAND", "RESULT", "VERSIONS", "BY", "DURATION", ...(verbose ? ["MESSAGE"] : [])],
      ...r.log.map((l) => [l.at, l.command, l.result, l.versions.join(",") || "-", `${l.userHost} pid ${l.pid}`, `${l.durationMs} ms`, ...(verbose ? [l.message ?? ""] : [])]),
    ]);
  }
  const withState = r.database !== null;
  if (r.migrations.length === 0) return "no migrations";
  if (!verbose) {
    return table(r.migrations.map((m, i) => [
      m.version,
      m.name,
      ...(withState ? [LABEL[m.state]!] : []),
      i === r.migrations.length - 1 ? "(head)" : "",
    ]));
  }
  return r.migrations
    .map((m) => [
      `${m.version} ${m.name}${withState ? ` [${LABEL[m.state]}]` : ""}`,
      `  file:       ${m.file ?? "(missing)"}`,
      `  kind:       ${m.kind ?? "?"}${m.reversible ? ", reversible" : ", irreversible"}`,
      `  checksum:   ${m.checksum ?? ""}`,
      ...(m.appliedAt ? [`  applied at: ${m.appliedAt} (${m.durationMs} ms)`] : []),
    ].join("\n"))
    .join("\n\n");
}

export function renderStamp(r: StampResult): string {
  return `${r.dryRun ? "dry run: would stamp" : "stamped"} ${r.to ?? "base"} (was ${r.from ?? "base"}): recorded [${r.added.join(", ")}], removed [${r.removed.join(", ")}]`;
}

export function renderResolve(r: ResolveResult): string {
  return `${r.version} recorded as ${r.recordedAs} (was ${r.previousState})`;
}

export function renderUnlock(r: UnlockResult): string {
  return r.cleared ? `cleared the lock held by ${r.cleared.host} pid ${r.cleared.pid} since ${r.cleared.startedAt}` : "no lock is held";
}

export function renderNew(r: NewResult): string {
  return r.files.join("\n");
}

export function renderAutogenerate(r: AutogenerateResult): string {
  if (r.empty) return "no differences: nothing written";
  return [...(r.files ?? []), "", "changes (review the files before applying):", ...r.summary.map((l) => "  " + l)].join("\n");
}

export function renderCheck(r: CheckResult): string {
  if (r.ok) {
    // Say only what was compared: "matches" from a gate that compared nothing would lie.
    const live = r.liveCompared ? ", the database's schema is the migrations' head" : "";
    const declared = r.schema ? `, and ${r.schema} matches it` : "; no schema file (./schema.sql) was found, so none was compared";
    return `ok: ${r.database} is at head ${r.head ?? "(no migrations)"}, files unchanged${live}${declared}`;
  }
  return [`check failed for ${r.database}:`, ...r.differences.map((d) => "  - " + d)].join("\n");
}
