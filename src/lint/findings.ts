/**
 * What lint reports: the rules (code, category, severity, what to do) and the suppression
 * directive. A rule's advice is written once here; the analysis only says where and why.
 */
import fs from "node:fs";

export type Category = "destructive" | "incompatible" | "data-dependent" | "costly" | "reversibility" | "lint";
export type Severity = "error" | "warning";

interface Rule {
  category: Category;
  severity: Severity;
  /** One sentence: what to do. */
  advice: string;
}

export const RULES = {
  "destructive.drop-table": { category: "destructive", severity: "error", advice: "make sure nothing needs its rows (back up first), then suppress with a reason" },
  "destructive.drop-column": { category: "destructive", severity: "error", advice: "copy the values elsewhere first if they are still needed, then suppress with a reason" },
  "destructive.rebuild-drops-column": { category: "destructive", severity: "error", advice: "list the column in the rebuilt table and in its INSERT … SELECT, or suppress with a reason if the drop is intended" },
  "destructive.type-change": { category: "destructive", severity: "error", advice: "check that every stored value converts without loss (rehearse on a copy), or add a new column and backfill it" },
  "incompatible.rename-table": { category: "incompatible", severity: "warning", advice: "deploy an app version that reads both names first, or keep a view with the old name" },
  "incompatible.rename-column": { category: "incompatible", severity: "warning", advice: "deploy an app version that no longer uses the old name first, or add the new column and drop the old one later" },
  "incompatible.drop-column": { category: "incompatible", severity: "warning", advice: "deploy an app version that no longer reads or writes it before this migration" },
  "incompatible.not-null-without-default": { category: "incompatible", severity: "warning", advice: "give the column a DEFAULT so inserts from the running app version keep working" },
  "data-dependent.unique": { category: "data-dependent", severity: "warning", advice: "check for duplicates first (SELECT … GROUP BY … HAVING count(*) > 1) or run `strata rehearse` on a copy" },
  "data-dependent.not-null": { category: "data-dependent", severity: "warning", advice: "fill the NULLs in the same migration before the constraint, and rehearse on a copy" },
  "data-dependent.check": { category: "data-dependent", severity: "warning", advice: "fix the rows that violate it in the same migration first, and rehearse on a copy" },
  "data-dependent.foreign-key": { category: "data-dependent", severity: "warning", advice: "delete or fix the orphan rows first (strata refuses to commit new violations), and rehearse on a copy" },
  "costly.rebuild": { category: "costly", severity: "warning", advice: "run `strata rehearse` to time it on a copy of production data, and plan the deploy for it" },
  "reversibility.missing-down": { category: "reversibility", severity: "error", advice: "write a down that recreates what the up removes, or suppress with a reason and rely on the backup" },
  "reversibility.down-fails": { category: "reversibility", severity: "error", advice: "fix the down so that it runs right after the up" },
  "reversibility.not-exact": { category: "reversibility", severity: "error", advice: "make the down recreate exactly what the up changed" },
  "migration.fails": { category: "lint", severity: "error", advice: "fix the statement; later migrations were not linted" },
  "lint.ignore-without-reason": { category: "lint", severity: "error", advice: 'give a reason in quotes: -- strata:lint-ignore destructive "why it is safe"' },
  "lint.ignore-unknown": { category: "lint", severity: "error", advice: "name a category (destructive, incompatible, data-dependent, costly, reversibility) or a rule code" },
} as const satisfies Record<string, Rule>;

export type Code = keyof typeof RULES;

export interface Finding {
  code: Code;
  category: Category;
  severity: Severity;
  /** Migration version. */
  version: string;
  file: string;
  line: number;
  message: string;
  advice: string;
  /** Set when a directive with a reason covers this finding: it no longer counts. */
  suppressed?: { reason: string; line: number };
}

export function finding(code: Code, version: string, at: { file: string; line: number }, message: string): Finding {
  const rule: Rule = RULES[code];
  return { code, category: rule.category, severity: rule.severity, version, file: at.file, line: at.line, message, advice: rule.advice };
}

export interface Directive {
  /** Categories or codes it covers. */
  targets: string[];
  reason: string;
  file: string;
  line: number;
}

const DIRECTIVE = /^\s*(?:--|\/\/)\s*strata:lint-ignore\b(.*)$/i;
const SUPPRESSIBLE = new Set<string>(["destructive", "incompatible", "data-dependent", "costly", "reversibility", ...Object.keys(RULES).filter((c) => !c.startsWith("lint."))]);

/**
 * `-- strata:lint-ignore CATEGORY[,CODE…] "reason"` (`//` in TS modules), anywhere in the
 * migration's files: covers that migration only. Without a reason it covers nothing and is
 * itself an error.
 */
export function readDirectives(files: string[], version: string): { directives: Directive[]; problems: Finding[] } {
  const directives: Directive[] = [];
  const problems: Finding[] = [];
  for (const file of files) {
    fs.readFileSync(file, "utf8").split(/\r?\n/).forEach((text, i) => {
      const m = DIRECTIVE.exec(text);
      if (!m) return;
      const at = { file, line: i + 1 };
      const body = m[1]!.trim();
      const quoted = /^([^"]*?)\s*"([^"]*)"\s*$/.exec(body);
      const targets = (quoted ? quoted[1]! : body).split(/[\s,]+/).filter(Boolean).map((t) => t.toLowerCase());
      const reason = quoted?.[2]!.trim() ?? "";
      const unknown = targets.filter((t) => !SUPPRESSIBLE.has(t));
      if (targets.length === 0 || unknown.length > 0) {
        problems.push(finding("lint.ignore-unknown", version, at, `lint-ignore names ${targets.length === 0 ? "nothing" : `unknown ${unknown.join(", ")}`}`));
      } else if (reason === "") {
        problems.push(finding("lint.ignore-without-reason", version, at, `lint-ignore ${targets.join(",")} has no reason, so it suppresses nothing`));
      } else {
        directives.push({ targets, reason, ...at });
      }
    });
  }
  return { directives, problems };
}

/** Marks the findings a directive covers. */
export function applyDirectives(findings: Finding[], directives: Directive[]): Finding[] {
  return findings.map((f) => {
    const d = directives.find((x) => x.targets.includes(f.category) || x.targets.includes(f.code));
    return d && f.category !== "lint" ? { ...f, suppressed: { reason: d.reason, line: d.line } } : f;
  });
}
