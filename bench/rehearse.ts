/**
 * `strata rehearse` of the calendar history on a large copy, against the same copy's own `up`:
 * what the safety costs. The database is the calendar app at its initial revision, filled with
 * bookings (≈1 KB each) to the requested size; every repetition starts from a fresh copy.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "libsql";
import { measure, CommandFailed, type Measurement } from "./measure.ts";
import { fmtMb, fmtTime, sample, summarize, verdictCell, type Row, type Sample } from "./report.ts";

export interface RehearseBench {
  strata: string;
  env: NodeJS.ProcessEnv;
  reps: number;
  /** A scratch folder of the bench. */
  dir: string;
  megabytes: number;
  migrations: string;
  progress: (text: string) => void;
}

const INITIAL = "20240115090000";

/** The calendar database at its initial revision with ≈`megabytes` MB of bookings. */
async function buildCalendar(b: RehearseBench, file: string): Promise<{ bytes: number; bookings: number }> {
  const up = await measure(b.strata, ["up", "--url", file, "--dir", b.migrations, "--to", INITIAL, "--quiet"], b.env);
  if (up.code !== 0) throw new CommandFailed(`strata up --to ${INITIAL}: ${up.stderr}`);
  const bookings = Math.round((b.megabytes * 1024 * 1024) / 1100);
  const db = new Database(file);
  try {
    db.exec(`
      PRAGMA journal_mode = OFF;
      PRAGMA synchronous = OFF;
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
      INSERT INTO specialists (name, email, phone, specialty) SELECT 'specialist ' || i, 's' || i || '@example.com', '+1555' || i, 'therapy' FROM c;
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50000)
      INSERT INTO clients (name, email, phone) SELECT 'client ' || i, 'c' || i || '@example.com', '+1666' || i FROM c;
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${bookings})
      INSERT INTO bookings (specialist_id, client_id, client_name, client_phone, starts_at, ends_at, status, notes)
      SELECT 1 + i % 2000, 1 + i % 50000, 'client ' || (1 + i % 50000), '+1666' || (i % 50000),
             datetime('2024-01-01', '+' || i || ' minutes'), datetime('2024-01-01', '+' || (i + 30) || ' minutes'),
             'confirmed', hex(randomblob(450)) FROM c;
    `);
  } finally {
    db.close();
  }
  return { bytes: fs.statSync(file).size, bookings };
}

function ok(m: Measurement, what: string): Measurement {
  if (m.code !== 0) throw new CommandFailed(`${what} exited ${m.code}: ${m.stderr.split("\n").slice(-3).join(" ")}`);
  return m;
}

export async function rehearseWorkload(b: RehearseBench): Promise<{ rows: Row[]; series: Record<string, Sample[]>; notes: string[] }> {
  const template = path.join(b.dir, "calendar-template.db");
  b.progress(`  building a ${b.megabytes} MB calendar database`);
  const built = await buildCalendar(b, template);
  const rehearsals: Sample[] = [];
  const ups: Sample[] = [];
  for (let i = 0; i < b.reps; i++) {
    b.progress(`  rehearse rep ${i + 1}/${b.reps}`);
    const copy = path.join(b.dir, `rehearse-${i}.db`);
    fs.copyFileSync(template, copy);
    rehearsals.push(sample(ok(await measure(b.strata, ["rehearse", "--url", copy, "--dir", b.migrations, "--quiet"], b.env), "strata rehearse")));
    fs.rmSync(copy, { force: true });
    const target = path.join(b.dir, `up-${i}.db`);
    fs.copyFileSync(template, target);
    ups.push(sample(ok(await measure(b.strata, ["up", "--url", target, "--dir", b.migrations, "--quiet"], b.env), "strata up")));
    fs.rmSync(target, { force: true });
  }
  fs.rmSync(template, { force: true });
  const r = summarize(rehearsals);
  const u = summarize(ups);
  const mb = (built.bytes / 1024 / 1024).toFixed(0);
  return {
    series: { "rehearse/strata": rehearsals, "rehearse/up": ups },
    notes: [
      `Rehearse: the calendar database at ${INITIAL} with ${built.bookings.toLocaleString("en-US")} bookings (${mb} MB); rehearse = snapshot + verification + the 5 pending migrations + integrity_check + downs + apply again with row counting, all on the copy.`,
    ],
    rows: [
      {
        workload: `\`rehearse\` of the calendar history on a ${mb} MB copy`,
        strata: fmtTime(r),
        reference: `the same copy's own \`up\` ${fmtTime(u)}`,
        ratio: `${(r.medianMs / u.medianMs).toFixed(2)}×`,
        strataPeak: fmtMb(r.peakMb),
        referencePeak: fmtMb(u.peakMb),
        target: "reported",
        verdict: verdictCell("info"),
      },
    ],
  };
}
