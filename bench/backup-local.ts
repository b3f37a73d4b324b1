/**
 * Local `strata backup` and `strata restore` of a large database against the sqlite3 CLI's
 * `.backup` and `.restore` (SQLite's page-copying backup API), interleaved. strata's figures
 * include its verification (quick_check of the copy on backup; checksum, integrity_check and
 * row counts of the input on restore) and, for restore, the safety backup of the replaced file.
 */
import fs from "node:fs";
import path from "node:path";
import { createBlobDatabase } from "./fixtures.ts";
import { CommandFailed, measure, type Measurement } from "./measure.ts";
import { fmtMb, fmtTime, sample, summarize, verdictCell, type Row, type Sample, type Summary } from "./report.ts";

export interface LocalBackupBench {
  strata: string;
  sqlite3: string;
  env: NodeJS.ProcessEnv;
  reps: number;
  dir: string;
  megabytes: number;
  progress: (text: string) => void;
}

const TARGET_RATIO = 1.0;
const TARGET_PEAK_MB = 100;

function ok(m: Measurement, what: string): Measurement {
  if (m.code !== 0) throw new CommandFailed(`${what} exited ${m.code}: ${m.stderr.split("\n").slice(-3).join(" ")}`);
  return m;
}

function removeDb(file: string): void {
  for (const suffix of ["", "-journal", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
}

function row(workload: string, st: Summary, ref: Summary, refName: string): Row {
  const r = st.medianMs / ref.medianMs;
  const memOk = st.peakMb !== null && st.peakMb <= TARGET_PEAK_MB;
  const timeOk = r <= TARGET_RATIO;
  return {
    workload,
    strata: fmtTime(st),
    reference: `sqlite3 \`${refName}\` ${fmtTime(ref)}`,
    ratio: `${r.toFixed(2)}×`,
    strataPeak: fmtMb(st.peakMb),
    referencePeak: fmtMb(ref.peakMb),
    target: `≤ ${TARGET_RATIO.toFixed(1)}× sqlite3 \`${refName}\`; peak ≤ ${TARGET_PEAK_MB} MB`,
    verdict: verdictCell(timeOk && memOk ? "met" : "missed", timeOk && memOk ? undefined : [timeOk ? "" : "time", memOk ? "" : "memory"].filter(Boolean).join(", ")),
  };
}

export async function localBackupWorkload(b: LocalBackupBench): Promise<{ rows: Row[]; series: Record<string, Sample[]>; notes: string[] }> {
  const src = path.join(b.dir, "source.db");
  b.progress(`  building a ${b.megabytes} MB database`);
  const built = createBlobDatabase(src, b.megabytes);
  const mb = built.bytes / 1024 / 1024;
  const series: Record<string, Sample[]> = { "backup/strata": [], "backup/sqlite3": [], "restore/strata": [], "restore/sqlite3": [] };
  const target = path.join(b.dir, "target.db");
  const out = path.join(b.dir, "out");
  // Every run reads a source in the page cache (it was just written or copied).
  for (let i = 0; i < b.reps; i++) {
    b.progress(`  backup/restore rep ${i + 1}/${b.reps}`);
    fs.rmSync(out, { recursive: true, force: true });
    const made = ok(await measure(b.strata, ["backup", "--url", src, "--out", out, "--json", "--quiet"], b.env), "strata backup");
    series["backup/strata"]!.push(sample(made));
    const backupFile = (JSON.parse(made.stdout) as { path: string }).path;
    const copy = path.join(b.dir, "sqlite3-copy.db");
    removeDb(copy);
    series["backup/sqlite3"]!.push(sample(ok(await measure(b.sqlite3, [src, `.backup '${copy}'`], b.env), "sqlite3 .backup")));

    // Restore over an existing database of the same size (the source's bytes).
    removeDb(target);
    fs.copyFileSync(src, target);
    series["restore/strata"]!.push(sample(ok(await measure(b.strata, ["restore", backupFile, "--url", target, "--out", out, "--yes", "--json", "--quiet"], b.env), "strata restore")));
    removeDb(target);
    fs.copyFileSync(src, target);
    series["restore/sqlite3"]!.push(sample(ok(await measure(b.sqlite3, [target, `.restore '${copy}'`], b.env), "sqlite3 .restore")));
    removeDb(copy);
  }
  removeDb(src);
  removeDb(target);
  fs.rmSync(out, { recursive: true, force: true });
  const s = (k: string) => summarize(series[k]!);
  return {
    series,
    notes: [
      `Backup source: ${mb.toFixed(0)} MB, ${built.rows.toLocaleString("en-US")} rows (1000-byte blob, indexed key, text), rollback journal, in the page cache. ` +
        "strata backup copies the file inside a read transaction, hashing as it copies, then runs quick_check and the row counts; " +
        "strata restore copies and hashes the backup, runs integrity_check and the row counts, and hard-links the replaced file as its safety backup (hashed).",
    ],
    rows: [
      row(`backup of a ${mb.toFixed(0)} MB database (verification included)`, s("backup/strata"), s("backup/sqlite3"), ".backup"),
      row(`restore of it over a ${mb.toFixed(0)} MB database (verification and safety backup included)`, s("restore/strata"), s("restore/sqlite3"), ".restore"),
    ],
  };
}
