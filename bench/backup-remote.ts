/**
 * Remote `strata backup` and `strata restore` on the real sqld behind the counting proxy, which
 * adds the latency: requests and wall time for a database of 3 tables and one of 53 (the
 * calendar-sized schema of issue 12, where the old dump took 109 requests and restore about 60).
 * The request counts must not grow with the number of tables.
 */
import path from "node:path";
import type { Client } from "@libsql/client";
import { startCountingProxy } from "../test/support/counting-proxy.ts";
import { startSqld } from "../test/support/sqld.ts";
import { CommandFailed, measure, type Measurement } from "./measure.ts";
import { fmtMb, fmtMs, fmtTime, median, sample, summarize, verdictCell, type Row, type Sample } from "./report.ts";

export interface RemoteBackupBench {
  strata: string;
  env: NodeJS.ProcessEnv;
  reps: number;
  dir: string;
  latencyMs: number;
  progress: (text: string) => void;
}

const SIZES = [3, 53];
const ROWS_PER_TABLE = 20;

async function fill(c: Client, tables: number): Promise<void> {
  const stmts: string[] = [];
  for (let i = 0; i < tables; i++) {
    stmts.push(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY AUTOINCREMENT, ${i > 0 ? `parent INTEGER REFERENCES t${i - 1} (id), ` : ""}name TEXT NOT NULL, v REAL)`);
    stmts.push(`CREATE INDEX ix_t${i}_name ON t${i} (name)`);
    stmts.push(`WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ${ROWS_PER_TABLE}) INSERT INTO t${i} (${i > 0 ? "parent, " : ""}name, v) SELECT ${i > 0 ? "k, " : ""}'row ' || k, k / 3.0 FROM n`);
  }
  await c.migrate(stmts);
}

function ok(m: Measurement, what: string): Measurement {
  if (m.code !== 0) throw new CommandFailed(`${what} exited ${m.code}: ${m.stderr.split("\n").slice(-3).join(" ")}`);
  return m;
}

export async function remoteBackupWorkload(b: RemoteBackupBench): Promise<{ rows: Row[]; series: Record<string, Sample[]>; notes: string[] }> {
  const sqld = await startSqld({ namespaces: true });
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) };
  const results: Record<number, { backup: Sample[]; restore: Sample[] }> = {};
  try {
    for (const tables of SIZES) {
      results[tables] = { backup: [], restore: [] };
      const source = await sqld.freshDatabase(t);
      await fill(source.client, tables);
      for (let i = 0; i < b.reps; i++) {
        b.progress(`  remote backup/restore, ${tables} tables, rep ${i + 1}/${b.reps}`);
        const out = path.join(b.dir, `out-${tables}-${i}`);
        const env = { ...b.env, DATABASE_AUTH_TOKEN: source.token };
        const from = await startCountingProxy(source.url, { latencyMs: b.latencyMs });
        let file: string;
        try {
          const m = ok(await measure(b.strata, ["backup", "--url", from.url, "--out", out, "--json", "--quiet"], env), "strata backup");
          file = (JSON.parse(m.stdout) as { path: string }).path;
          results[tables]!.backup.push(sample(m, { roundTrips: from.stats.requests }));
        } finally {
          await from.close();
        }
        const target = await sqld.freshDatabase(t);
        const into = await startCountingProxy(target.url, { latencyMs: b.latencyMs });
        try {
          const m = ok(await measure(b.strata, ["restore", file, "--url", into.url, "--out", out, "--yes", "--quiet"], { ...b.env, DATABASE_AUTH_TOKEN: target.token }), "strata restore");
          results[tables]!.restore.push(sample(m, { roundTrips: into.stats.requests }));
        } finally {
          await into.close();
        }
        const n = Number((await target.client.execute(`SELECT count(*) FROM t${tables - 1}`)).rows[0]![0]);
        if (n !== ROWS_PER_TABLE) throw new CommandFailed(`restore: expected ${ROWS_PER_TABLE} rows in t${tables - 1}, found ${n}`);
      }
    }
  } finally {
    for (const fn of cleanups) await fn();
    await sqld.stop();
  }
  const trips = (s: Sample[]) => median(s.map((x) => Number((x.extra as { roundTrips?: number } | undefined)?.roundTrips ?? NaN)));
  const rows: Row[] = [];
  for (const verb of ["backup", "restore"] as const) {
    const few = trips(results[SIZES[0]!]![verb]);
    const many = trips(results[SIZES[1]!]![verb]);
    const flat = many <= few + 1;
    for (const tables of SIZES) {
      const s = summarize(results[tables]![verb]);
      const rt = trips(results[tables]![verb]);
      rows.push({
        workload: `remote \`${verb}\` of ${tables} tables × ${ROWS_PER_TABLE} rows on sqld, proxy adding ${b.latencyMs} ms per request`,
        strata: `${fmtTime(s)}; ${rt} requests`,
        reference: tables === 53 ? `before: ${verb === "backup" ? "109" : "≈60"} requests (issue 12)` : `floor ${rt} × ${b.latencyMs} ms = ${fmtMs(rt * b.latencyMs)}`,
        ratio: `${(s.medianMs / Math.max(1, rt * b.latencyMs)).toFixed(2)}× floor`,
        strataPeak: fmtMb(s.peakMb),
        referencePeak: "–",
        target: `requests do not grow with tables (${SIZES[1]} vs ${SIZES[0]}: ${many} vs ${few})`,
        verdict: verdictCell(flat ? "met" : "missed", flat ? undefined : "grows with tables"),
      });
    }
  }
  return {
    rows,
    series: Object.fromEntries(SIZES.flatMap((n) => [[`remote-backup/${n}-tables`, results[n]!.backup], [`remote-restore/${n}-tables`, results[n]!.restore]])),
    notes: [`Remote backup/restore: every table has an index and a foreign key to the previous one; restore goes into an empty namespace (one transaction on the server).`],
  };
}
