/** lint's findings as text (one line each, compiler style) or GitHub workflow annotations. */
import path from "node:path";
import type { LintResult } from "../commands/lint.ts";
import type { Finding } from "./findings.ts";

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
