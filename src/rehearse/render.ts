/** A rehearsal as text: one row per migration, then the checks and the verdict. */
import path from "node:path";
import type { RehearseResult } from "../commands/rehearse.ts";

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
}

const ms = (n: number | null) => (n === null ? "-" : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`);
const perTable = (o: Record<string, number> | null) => (o === null ? "not counted (no down)" : Object.entries(o).map(([t, n]) => `${t} ${n}`).join(", ") || "-");

export function renderRehearse(r: RehearseResult): string {
  const out = [`rehearsed on a ${r.copy.kind === "snapshot" ? "snapshot" : "dump"} of ${r.database} (copied in ${ms(r.copy.snapshotMs)}); the original was not written`];
  if (r.migrations.length === 0 && !r.failure) return [...out, `nothing pending: the database is at ${r.from ?? "base"}`].join("\n");
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
