/** Text output of lint (compiler-style lines, or GitHub workflow annotations) and rehearse. */
import path from "node:path";
import type { LintResult } from "../commands/lint.ts";
import type { RehearseResult } from "../commands/rehearse.ts";
import type { Finding } from "../lint/findings.ts";
import { table } from "./render.ts";

const where = (f: Finding) => `${path.relative(process.cwd(), f.file) || f.file}:${f.line}`;

export function renderLint(r: LintResult): string {
  const lines = r.findings.map((f) =>
    f.suppressed
      ? `${where(f)}: suppressed ${f.code}: ${f.message} (reason: ${f.suppressed.reason})`
      : `${where(f)}: ${f.severity} ${f.code}: ${f.message} — ${f.advice}`,
  );
  const n = r.migrations.length;
  const scope = r.selection === "pending" ? `pending migration(s) of ${r.database}` : "migration(s)";
  lines.push(`${n} ${scope} linted: ${r.errors} error(s), ${r.warnings} warning(s)${r.suppressed > 0 ? `, ${r.suppressed} suppressed` : ""}`);
  return lines.join("\n");
}

/** `::error file=…,line=…,title=…::message` lines, which GitHub Actions shows on the diff. */
export function renderLintGithub(r: LintResult): string {
  const data = (s: string) => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const prop = (s: string) => data(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
  return r.findings
    .filter((f) => !f.suppressed)
    .map((f) => `::${f.severity} file=${prop(path.relative(process.cwd(), f.file) || f.file)},line=${f.line},title=${prop(f.code)}::${data(`${f.message} — ${f.advice}`)}`)
    .join("\n");
}


const ms = (n: number | null) => (n === null ? "-" : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`);
const perTable = (o: Record<string, number> | null) => (o === null ? "not counted (no down)" : Object.entries(o).map(([t, n]) => `${t} ${n}`).join(", ") || "-");

export function renderRehearse(r: RehearseResult): string {
  if (!r.copy) return `nothing pending: ${r.database} is at ${r.from ?? "base"}; nothing to rehearse`;
  const out = [`rehearsed on a ${r.copy.kind === "snapshot" ? "snapshot" : "dump"} of ${r.database} (copied in ${ms(r.copy.snapshotMs)}); the original was not written`];
  if (r.migrations.length > 0) {
    out.push(table([
      ["MIGRATION", "UP", "WRITE LOCK ≈", "DOWN", "UP AGAIN", "ROWS CHANGED", "REBUILT (rows)", "FK VIOLATIONS"],
      ...r.migrations.map((m) => [
        `${m.version}_${m.name}`,
        ms(m.durationMs),
        ms(m.lockMs),
        ms(m.downMs),
        ms(m.reapplyMs),
        perTable(m.rowsChanged),
        m.rebuilt.map((b) => `${b.table} (${b.rows})`).join(", ") || "-",
        perTable(m.violations),
      ]),
    ]));
  }
  if (r.irreversible.length > 0) out.push(`no down: ${r.irreversible.join(", ")} (the revert stopped there; rely on the backup for it)`);
  const f = r.failure;
  if (f) {
    const where = f.file ? `${path.relative(process.cwd(), f.file) || f.file}${f.line ? `:${f.line}` : ""}: ` : "";
    out.push(`FAILED (${f.phase}${f.version ? ` of ${f.version}` : ""}): ${where}${f.message}`);
    if (f.statement) out.push(`  statement: ${f.statement.replace(/\s+/g, " ").slice(0, 200)}`);
    out.push("the original database was not changed; fix the migration and rehearse again");
  } else {
    out.push(`integrity_check ok; every down ran; the copy is at ${r.to ?? "base"} again`);
  }
  return out.join("\n");
}
