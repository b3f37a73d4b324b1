/**
 * `npm run bench [-- --quick] [-- --reps N] [-- --only noop,fresh,remote,backup,data]`
 *   `[-- --save-baseline FILE] [-- --baseline FILE]`: keep this run's figures, or compare with kept ones
 *
 * Runs the built bin/strata and dbmate (and the sqlite3 CLI for backups) on the same workloads,
 * interleaved (strata, dbmate, strata, dbmate, …), N repetitions each; prints the medians and
 * the strata/reference ratios as a markdown table and writes bench/results/latest.md and .json.
 * Numbers are reported, not asserted: the exit code is non-zero only when a command failed.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureBinary } from "../test/support/build.ts";
import {
  SQL_UPDATE,
  TS_BATCHED,
  TS_HELPER,
  TS_JSON_PAGES,
  TS_SET_BASED,
  countRows,
  createBigTable,
  versionOf,
  writeTableMigrations,
} from "./fixtures.ts";
import { startCountingProxy, type ProxyStats } from "../test/support/counting-proxy.ts";
import { startSqld } from "../test/support/sqld.ts";
import { fleetWorkload } from "./fleet.ts";
import { rehearseWorkload } from "./rehearse.ts";
import { sizeWorkload } from "./size.ts";
import { remoteBackupWorkload } from "./backup-remote.ts";
import { localBackupWorkload } from "./backup-local.ts";
import { CommandFailed, hasGnuTime, killAll, measure, removeMeasureScratch, type Measurement } from "./measure.ts";
import {
  fmtMb,
  fmtMs,
  fmtRate,
  fmtTime,
  markdownTable,
  median,
  round,
  sample,
  summarize,
  verdictCell,
  baselineMarkdown,
  compareToBaseline,
  type Row,
  type Sample,
  type Summary,
} from "./report.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const SQLITE3 = "/usr/bin/sqlite3";
const LATENCY_MS = 20;
const WORKLOADS = ["noop", "fresh", "remote", "backup", "remote-backup", "data", "fleet", "rehearse", "size"] as const;
type WorkloadId = (typeof WORKLOADS)[number];

// ------------------------------------------------------------------------------------ options

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    only: { type: "string" },
    keep: { type: "boolean", default: false },
    baseline: { type: "string" },
    "save-baseline": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log("usage: npm run bench -- [--quick] [--reps N] [--only noop,fresh,remote,backup,remote-backup,data,fleet,rehearse,size] [--keep] [--save-baseline FILE] [--baseline FILE]");
  process.exit(0);
}
const quick = flags.quick;
// Read at the start: the baseline may be bench/results/latest.json, which this run overwrites.
const baseline = flags.baseline === undefined ? undefined : readBaseline(flags.baseline);
const reps = flags.reps !== undefined ? Number(flags.reps) : quick ? 2 : 5;
if (!Number.isInteger(reps) || reps < 1) {
  console.error(`--reps must be a positive whole number, got ${flags.reps}`);
  process.exit(2);
}
const only = new Set<WorkloadId>(
  flags.only === undefined
    ? WORKLOADS
    : flags.only.split(",").map((w) => {
        if (!(WORKLOADS as readonly string[]).includes(w.trim())) {
          console.error(`unknown workload "${w}"; choose from ${WORKLOADS.join(", ")}`);
          process.exit(2);
        }
        return w.trim() as WorkloadId;
      }),
);

const sizes = quick
  ? { migrations: 20, bulk: [20, 100], remoteMigrations: 10, backupMb: 50, rows: 100_000, moreRows: 500_000 }
  : { migrations: 200, bulk: [200, 1000], remoteMigrations: 50, backupMb: 500, rows: 1_000_000, moreRows: 5_000_000 };

/** A saved run (its latest.json): the series the comparison needs. */
function readBaseline(file: string): Record<string, Sample[]> {
  try {
    const data = JSON.parse(fs.readFileSync(file, "utf8")) as { series?: Record<string, Sample[]> };
    if (typeof data.series !== "object" || data.series === null) throw new Error("it has no series");
    return data.series;
  } catch (e) {
    console.error(`--baseline ${file}: cannot use it (${e instanceof Error ? e.message : String(e)}); save one with --save-baseline FILE`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------------------------ environment

/** The children's environment: none of the tools' own variables leak in from the host. */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(DATABASE_|STRATA_|LIBSQL_|TURSO_|DBMATE_)/.test(k)),
);
childEnv["NO_COLOR"] = "1";

/**
 * dbmate's own Go binary, from its platform package (an optional dependency: the `dbmate`
 * wrapper package cannot be locked here, its other platforms' packages are not on the registry).
 */
function dbmateBinary(): { path: string; note: string } {
  const require = createRequire(import.meta.url);
  const name = `@dbmate/${process.platform}-${process.arch}/bin/dbmate${process.platform === "win32" ? ".exe" : ""}`;
  try {
    return { path: require.resolve(name), note: `its native binary (${name.split("/bin/")[0]})` };
  } catch {
    throw new Error(`dbmate is not installed for ${process.platform}-${process.arch}: npm install --no-save ${name.split("/bin/")[0]}@2.36.0`);
  }
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: childEnv });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split("\n")[0]! : "n/a";
}

function machine(strata: string, dbmate: string): Record<string, string> {
  const cpuinfo = fs.existsSync("/proc/cpuinfo") ? fs.readFileSync("/proc/cpuinfo", "utf8") : "";
  const git = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" });
  const dirty = spawnSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8" });
  const fsType = spawnSync("stat", ["-f", "-c", "%T", os.tmpdir()], { encoding: "utf8" });
  return {
    date: new Date().toISOString(),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown",
    cores: String(os.availableParallelism()),
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GB`,
    "load average at start (1/5/15 min)": os.loadavg().map((x) => x.toFixed(2)).join(" / "),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    tmp: `${os.tmpdir()} (${fsType.status === 0 ? fsType.stdout.trim() : "?"})`,
    node: process.version,
    bun: version(path.join(root, "node_modules", ".bin", "bun"), ["--version"]),
    strata: version(strata, ["--version"]),
    git: git.status === 0 ? `${git.stdout.trim()}${dirty.stdout.trim() ? " (working tree has uncommitted changes)" : ""}` : "n/a",
    dbmate: version(dbmate, ["--version"]),
    sqlite3: fs.existsSync(SQLITE3) ? version(SQLITE3, ["--version"]).split(" ").slice(0, 2).join(" ") : "not installed",
    "peak memory from": hasGnuTime ? "GNU time %M (max RSS)" : "/proc/<pid>/status VmHWM, polled every 2 ms",
  };
}

// ------------------------------------------------------------------------------------ temp dirs & cleanup

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-"));
let cleaned = false;
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  killAll();
  if (!flags.keep) fs.rmSync(tmpRoot, { recursive: true, force: true });
  removeMeasureScratch();
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping, killing child processes, removing ${tmpRoot}`);
    cleanup();
    process.exit(130);
  });
}

function tmp(...parts: string[]): string {
  const p = path.join(tmpRoot, ...parts);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  return p;
}
function freshDir(...parts: string[]): string {
  const p = tmp(...parts);
  fs.rmSync(p, { recursive: true, force: true });
  fs.mkdirSync(p, { recursive: true });
  return p;
}
function removeDb(file: string): void {
  for (const suffix of ["", "-journal", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

// ------------------------------------------------------------------------------------ tools

let STRATA = "";
let DBMATE = "";

function strataUp(url: string, dir: string, ...extra: string[]): Promise<Measurement> {
  return measure(STRATA, ["up", "--url", url, "--dir", dir, ...extra], childEnv);
}
function dbmateUp(dbFile: string, dir: string): Promise<Measurement> {
  return measure(DBMATE, ["--url", `sqlite:${dbFile}`, "--migrations-dir", dir, "--no-dump-schema", "up"], childEnv);
}

function expectCount(file: string, sql: string, expected: number, what: string): void {
  const n = countRows(file, sql);
  if (n !== expected) throw new CommandFailed(`${what}: expected ${expected}, found ${n} (${sql})`);
}
const TABLES_SQL = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE 't\\_%' ESCAPE '\\'";

// ------------------------------------------------------------------------------------ workloads

interface WorkloadResult {
  rows: Row[];
  series: Record<string, Sample[]>;
  notes: string[];
}

/** Median CPU time (user + sys) of some series, for the notes. */
function cpuNote(label: string, series: Record<string, Sample[]>): string {
  const parts = Object.entries(series).map(([k, v]) => {
    const cpu = v.map((x) => x.cpuMs).filter((x): x is number => x !== null);
    return `${k.split("/")[1]} ${cpu.length ? fmtMs(median(cpu)) : "–"} CPU / ${fmtMs(median(v.map((x) => x.wallMs)))} wall`;
  });
  return `${label} — medians (GNU time, 10 ms resolution): ${parts.join("; ")}.`;
}

function ratioCell(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

/** A row for strata against dbmate on the same work, target ≤ 1.0×. */
function dbmateRow(workload: string, x: Summary, y: Summary): Row {
  return {
    workload,
    strata: fmtTime(x),
    reference: `dbmate ${fmtTime(y)}`,
    ratio: ratioCell(x.medianMs, y.medianMs),
    strataPeak: fmtMb(x.peakMb),
    referencePeak: fmtMb(y.peakMb),
    target: "≤ 1.0× dbmate",
    verdict: verdictCell(x.medianMs <= y.medianMs ? "met" : "missed"),
  };
}

/** Cold no-op `up` and `status`: N applied migrations, then each again (a new process each time). */
async function noop(): Promise<WorkloadResult> {
  const n = sizes.migrations;
  const dirs = writeTableMigrations(tmp("noop", "migrations"), n);
  const sdb = tmp("noop", "strata.db");
  const ddb = tmp("noop", "dbmate.db");
  await strataUp(sdb, dirs.strata);
  await dbmateUp(ddb, dirs.dbmate);
  expectCount(sdb, TABLES_SQL, n, "strata setup");
  expectCount(ddb, TABLES_SQL, n, "dbmate setup");
  // strata remembers a file's checksum only once the file is 2 s old (src/script/fingerprints.ts:
  // a second write in the same clock tick must not look unchanged). Migrations on a server are
  // older than that; files written a moment ago are re-hashed on every run, so wait it out, then
  // one warm-up run records them.
  await new Promise((resolve) => setTimeout(resolve, 2100));
  await strataUp(sdb, dirs.strata);
  const strataStatus = () => measure(STRATA, ["status", "--url", sdb, "--dir", dirs.strata], childEnv);
  const dbmateStatus = () => measure(DBMATE, ["--url", `sqlite:${ddb}`, "--migrations-dir", dirs.dbmate, "status"], childEnv);
  const s: Sample[] = [];
  const d: Sample[] = [];
  const ss: Sample[] = [];
  const ds: Sample[] = [];
  // A run is ~20 ms, where the machine's noise is a few ms: six times the samples of the other
  // workloads (30 by default), interleaved.
  const noopReps = reps * 6;
  for (let i = 0; i < noopReps; i++) {
    progress(`  noop rep ${i + 1}/${noopReps}`);
    s.push(sample(await strataUp(sdb, dirs.strata)));
    d.push(sample(await dbmateUp(ddb, dirs.dbmate)));
    ss.push(sample(await strataStatus()));
    ds.push(sample(await dbmateStatus()));
  }
  const row = (workload: string, a: Sample[], b: Sample[]): Row => dbmateRow(workload, summarize(a), summarize(b));
  return {
    series: { "noop/strata": s, "noop/dbmate": d, "status/strata": ss, "status/dbmate": ds },
    notes: [],
    rows: [row(`cold no-op \`up\`, ${n} applied migrations`, s, d), row(`cold \`status\`, ${n} applied migrations`, ss, ds)],
  };
}

/**
 * Fresh `up` of N migrations (fresh database each time), and the same with --single-transaction,
 * for each bulk size (issue 14 item 2: ≥ 3× faster than dbmate, per-migration semantics kept).
 */
async function fresh(): Promise<WorkloadResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const allSeries: Record<string, Sample[]> = {};
  for (const n of sizes.bulk) {
    const dirs = writeTableMigrations(tmp(`fresh-${n}`, "migrations"), n);
    const s: Sample[] = [];
    const d: Sample[] = [];
    const st: Sample[] = [];
    for (let i = 0; i < reps; i++) {
      progress(`  fresh ${n} rep ${i + 1}/${reps}`);
      const sdb = tmp(`fresh-${n}`, `strata-${i}.db`);
      const ddb = tmp(`fresh-${n}`, `dbmate-${i}.db`);
      const tdb = tmp(`fresh-${n}`, `strata-single-${i}.db`);
      s.push(sample(await strataUp(sdb, dirs.strata)));
      d.push(sample(await dbmateUp(ddb, dirs.dbmate)));
      st.push(sample(await strataUp(tdb, dirs.strata, "--single-transaction")));
      expectCount(sdb, TABLES_SQL, n, "strata fresh up");
      expectCount(ddb, TABLES_SQL, n, "dbmate fresh up");
      expectCount(tdb, TABLES_SQL, n, "strata --single-transaction fresh up");
      for (const f of [sdb, ddb, tdb]) removeDb(f);
    }
    const ss = summarize(s);
    const ds = summarize(d);
    const ts = summarize(st);
    const series = { [`fresh-${n}/strata`]: s, [`fresh-${n}/dbmate`]: d, [`fresh-${n}/strata-single-transaction`]: st };
    Object.assign(allSeries, series);
    notes.push(cpuNote(`Fresh up of ${n}, CPU (user+sys)`, series));
    rows.push(
      {
        workload: `fresh \`up\` of ${n} SQL migrations (table + index + 10 rows each), each its own unit`,
        strata: fmtTime(ss),
        reference: `dbmate ${fmtTime(ds)}`,
        ratio: ratioCell(ss.medianMs, ds.medianMs),
        strataPeak: fmtMb(ss.peakMb),
        referencePeak: fmtMb(ds.peakMb),
        target: "≤ 0.33× dbmate",
        verdict: verdictCell(ss.medianMs <= 0.33 * ds.medianMs ? "met" : "missed"),
      },
      {
        workload: `the same ${n} with \`--single-transaction\` (all or nothing)`,
        strata: fmtTime(ts),
        reference: `dbmate ${fmtMs(ds.medianMs)} (row above)`,
        ratio: ratioCell(ts.medianMs, ds.medianMs),
        strataPeak: fmtMb(ts.peakMb),
        referencePeak: fmtMb(ds.peakMb),
        target: "≤ 0.33× dbmate",
        verdict: verdictCell(ts.medianMs <= 0.33 * ds.medianMs ? "met" : "missed"),
      },
    );
  }
  return { series: allSeries, notes, rows };
}

/**
 * Remote `up` of N migrations on the real sqld (test/support/sqld.ts, a fresh namespace per
 * repetition) through the counting proxy (test/support/counting-proxy.ts), which adds the latency
 * and counts the round trips.
 */
async function remote(): Promise<WorkloadResult> {
  const n = sizes.remoteMigrations;
  const dirs = writeTableMigrations(tmp("remote", "migrations"), n);
  const byLatency: Record<number, { samples: Sample[]; stats: ProxyStats[] }> = { [LATENCY_MS]: { samples: [], stats: [] }, 0: { samples: [], stats: [] } };
  /** Requests of a no-op `up` and of `status` right after the up, at LATENCY_MS (issue 14 item 5). */
  const followUps: Record<"noop" | "status", { samples: Sample[]; requests: number[] }> = { noop: { samples: [], requests: [] }, status: { samples: [], requests: [] } };
  const sqld = await startSqld({ namespaces: true });
  const cleanups: (() => unknown)[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      for (const latency of [LATENCY_MS, 0]) {
        progress(`  remote rep ${i + 1}/${reps} (${latency} ms latency)`);
        const db = await sqld.freshDatabase({ after: (fn) => cleanups.push(fn) });
        const proxy = await startCountingProxy(db.url, { latencyMs: latency });
        try {
          const m = await measure(STRATA, ["up", "--url", proxy.url, "--dir", dirs.strata], { ...childEnv, DATABASE_AUTH_TOKEN: db.token });
          const stats = structuredClone(proxy.stats);
          byLatency[latency]!.stats.push(stats);
          byLatency[latency]!.samples.push(
            sample(m, { roundTrips: stats.requests, pipelines: stats.pipelines, serverMs: round(stats.serverMs, 1), byShape: stats.byShape }),
          );
          if (latency > 0) {
            for (const [kind, args] of [["noop", ["up", "--dir", dirs.strata]], ["status", ["status", "--dir", dirs.strata]]] as const) {
              proxy.resetStats();
              const f = await measure(STRATA, [...args, "--url", proxy.url], { ...childEnv, DATABASE_AUTH_TOKEN: db.token });
              followUps[kind].requests.push(proxy.stats.requests);
              followUps[kind].samples.push(sample(f, { roundTrips: proxy.stats.requests }));
            }
          }
        } finally {
          await proxy.close();
        }
        const tables = Number((await db.client.execute(TABLES_SQL)).rows[0]![0]);
        if (tables !== n) throw new CommandFailed(`strata remote up: expected ${n} tables on sqld, found ${tables}`);
      }
    }
  } finally {
    for (const fn of cleanups) await fn();
    await sqld.stop();
  }
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const latency of [LATENCY_MS, 0]) {
    const { samples, stats } = byLatency[latency]!;
    const sum = summarize(samples);
    const rt = median(stats.map((x) => x.requests));
    // Issue 12: an up of N ≤ 50 SQL migrations is 3 requests on sqld.
    const maxRt = 3;
    if (latency > 0) {
      // Latency floor plus what the same run costs without added latency (process start, sqld).
      const budget = 1.2 * (rt * latency + summarize(byLatency[0]!.samples).medianMs);
      const rtOk = Math.max(...stats.map((x) => x.requests)) <= maxRt;
      const wallOk = sum.medianMs <= budget;
      rows.push({
        workload: `remote \`up\` of ${n} SQL migrations on sqld 0.24.32, proxy adding ${latency} ms per request`,
        strata: `${fmtTime(sum)}; ${rt} round trips`,
        reference: `floor ${rt} × ${latency} ms = ${fmtMs(rt * latency)}`,
        ratio: `${(sum.medianMs / (rt * latency)).toFixed(2)}× floor`,
        strataPeak: fmtMb(sum.peakMb),
        referencePeak: "–",
        target: `≤ ${maxRt} round trips; wall ≤ 1.2× (floor + the 0 ms run) = ${fmtMs(budget)}`,
        verdict: verdictCell(rtOk && wallOk ? "met" : "missed", rtOk && wallOk ? undefined : [rtOk ? "" : "round trips", wallOk ? "" : "wall time"].filter(Boolean).join(", ")),
      });
      for (const [kind, label, max] of [["noop", `no-op \`up\` right after (${n} applied)`, 2], ["status", "`status` right after", 1]] as const) {
        const f = followUps[kind];
        const worst = Math.max(...f.requests);
        rows.push({
          workload: `remote ${label}, proxy adding ${latency} ms per request`,
          strata: `${fmtTime(summarize(f.samples))}; ${median(f.requests)} round trip${median(f.requests) === 1 ? "" : "s"}`,
          reference: `floor ${median(f.requests)} × ${latency} ms = ${fmtMs(median(f.requests) * latency)}`,
          ratio: "–",
          strataPeak: fmtMb(summarize(f.samples).peakMb),
          referencePeak: "–",
          target: `≤ ${max} round trip${max > 1 ? "s" : ""}`,
          verdict: verdictCell(worst <= max ? "met" : "missed", worst <= max ? undefined : `worst ${worst}`),
        });
      }
      const serverMs = median(stats.map((x) => x.serverMs));
      notes.push(
        `Remote, +${latency} ms: of the median ${fmtMs(sum.medianMs)} wall, the server spent ${fmtMs(serverMs)} handling requests ` +
          `(${(serverMs / rt).toFixed(1)} ms per request including the ${latency} ms delay, i.e. ${(serverMs / rt - latency).toFixed(1)} ms of server work and timer slack); ` +
          `the other ${fmtMs(sum.medianMs - serverMs)} is strata's side (process start, planning, HTTP client, JSON) — ` +
          `strata's CPU time ${fmtMs(median(samples.map((x) => x.cpuMs ?? NaN)))}.`,
      );
      const shapes = stats[0]!.byShape;
      notes.push(
        `Remote round trips (first repetition, by pipeline content): ${Object.entries(shapes)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${v}× \`${k}\``)
          .join(", ")}.`,
      );
    } else {
      const serverMs = median(stats.map((x) => x.serverMs));
      notes.push(
        `Remote, no added latency: ${fmtMs(sum.medianMs)} wall, of which ${fmtMs(serverMs)} between the proxy and sqld ` +
          `(${(serverMs / rt).toFixed(1)} ms per request) and ${fmtMs(sum.medianMs - serverMs)} on strata's side.`,
      );
      rows.push({
        workload: `the same without added latency (strata's own overhead)`,
        strata: `${fmtTime(sum)}; ${rt} round trips`,
        reference: "–",
        ratio: "–",
        strataPeak: fmtMb(sum.peakMb),
        referencePeak: "–",
        target: "reported",
        verdict: verdictCell("info"),
      });
    }
  }
  return {
    rows,
    notes,
    series: { "remote/strata-20ms": byLatency[LATENCY_MS]!.samples, "remote/strata-0ms": byLatency[0]!.samples, "remote/noop-20ms": followUps.noop.samples, "remote/status-20ms": followUps.status.samples },
  };
}

/** A TS data migration over a table of N rows: set-based, and batched keyed UPDATEs. dbmate runs the same UPDATE as SQL. */
async function data(): Promise<WorkloadResult> {
  const n = sizes.rows;
  const template = tmp("data", "template.db");
  progress(`  building a table of ${n.toLocaleString("en-US")} rows`);
  createBigTable(template, n);
  const v = versionOf(1);
  const setDir = freshDir("data", "set");
  fs.writeFileSync(path.join(setDir, `${v}_bump_v.ts`), TS_SET_BASED);
  const batchDir = freshDir("data", "batched");
  fs.writeFileSync(path.join(batchDir, `${v}_bump_v.ts`), TS_BATCHED);
  const jsonDir = freshDir("data", "json-pages");
  fs.writeFileSync(path.join(jsonDir, `${v}_bump_v.ts`), TS_JSON_PAGES);
  const sqlDir = freshDir("data", "dbmate");
  fs.writeFileSync(path.join(sqlDir, `${v}_bump_v.sql`), `-- migrate:up\n${SQL_UPDATE}\n\n-- migrate:down\nUPDATE big SET v = v - 1;\n`);
  const bumped = "SELECT count(*) FROM big WHERE v = id % 1000 + 1";
  const series: Record<string, Sample[]> = {
    "data/strata-ts-set-based": [],
    "data/dbmate-sql": [],
    "data/strata-ts-batched": [],
    "data/strata-ts-json-pages": [],
  };
  const runs: [string, (db: string) => Promise<Measurement>][] = [
    ["data/strata-ts-set-based", (db) => strataUp(db, setDir)],
    ["data/dbmate-sql", (db) => dbmateUp(db, sqlDir)],
    ["data/strata-ts-batched", (db) => strataUp(db, batchDir)],
    ["data/strata-ts-json-pages", (db) => strataUp(db, jsonDir)],
  ];
  for (let i = 0; i < reps; i++) {
    progress(`  data rep ${i + 1}/${reps}`);
    for (const [key, fn] of runs) {
      const db = tmp("data", `run-${i}.db`);
      fs.copyFileSync(template, db);
      const m = await fn(db);
      expectCount(db, bumped, n, key);
      series[key]!.push(sample(m, { rowsPerSecond: Math.round(n / (m.wallMs / 1000)) }));
      removeDb(db);
    }
  }
  removeDb(template);
  const helper = await helperRuns(n);
  Object.assign(series, helper.series);
  const setS = summarize(series["data/strata-ts-set-based"]!);
  const batS = summarize(series["data/strata-ts-batched"]!);
  const sqlS = summarize(series["data/dbmate-sql"]!);
  const jsonS = summarize(series["data/strata-ts-json-pages"]!);
  const rate = (s: Summary): number => n / (s.medianMs / 1000);
  // The row-by-row variants are reported against the set-based SQL, not held to the target.
  const pagedRow = (workload: string, st: Summary) => ({
    workload,
    strata: `${fmtTime(st)} = ${fmtRate(rate(st))}`,
    reference: `dbmate SQL (row above)`,
    ratio: ratioCell(st.medianMs, sqlS.medianMs),
    strataPeak: fmtMb(st.peakMb),
    referencePeak: fmtMb(sqlS.peakMb),
    target: "reported (≥ 300,000 rows/s for comparison)",
    verdict: verdictCell("info", rate(st) >= 300_000 ? "≥ 300k rows/s" : "< 300k rows/s"),
  });
  const rowsLabel = n.toLocaleString("en-US");
  return {
    series,
    notes: [cpuNote("TS data migration, CPU (user+sys)", series)],
    rows: [
      {
        workload: `TS data migration updating ${rowsLabel} rows: \`tx.execute("UPDATE big SET v = v + 1")\``,
        strata: `${fmtTime(setS)} = ${fmtRate(rate(setS))}`,
        reference: `dbmate, same UPDATE as SQL: ${fmtMs(sqlS.medianMs)} = ${fmtRate(rate(sqlS))}`,
        ratio: ratioCell(setS.medianMs, sqlS.medianMs),
        strataPeak: fmtMb(setS.peakMb),
        referencePeak: fmtMb(sqlS.peakMb),
        target: "≥ 300,000 rows/s",
        verdict: verdictCell(rate(setS) >= 300_000 ? "met" : "missed"),
      },
      pagedRow(`the same in pages of 5,000: SELECT, then \`tx.batch\` of keyed UPDATEs`, batS),
      pagedRow(`the same pages, written back with one \`UPDATE … FROM json_each(?)\` per page`, jsonS),
      ...helper.rows,
    ],
  };
}

/**
 * strata's updateInBatches (issue 14 item 4) on N and on `sizes.moreRows` rows: ≥ 1M rows/s, and
 * the peak RSS of the larger run within 10 % of the smaller one's (memory does not grow with rows).
 */
async function helperRuns(n: number): Promise<{ rows: Row[]; series: Record<string, Sample[]> }> {
  const dir = freshDir("data", "helper");
  fs.writeFileSync(path.join(dir, `${versionOf(1)}_bump_v.ts`), TS_HELPER);
  const bumped = "SELECT count(*) FROM big WHERE v = id % 1000 + 1";
  const series: Record<string, Sample[]> = {};
  const summaries: Summary[] = [];
  for (const rows of [n, sizes.moreRows]) {
    const template = tmp("data", `helper-template-${rows}.db`);
    progress(`  building a table of ${rows.toLocaleString("en-US")} rows for updateInBatches`);
    createBigTable(template, rows);
    const key = `data/strata-ts-helper-${rows}`;
    series[key] = [];
    for (let i = 0; i < reps; i++) {
      progress(`  updateInBatches ${rows.toLocaleString("en-US")} rep ${i + 1}/${reps}`);
      const db = tmp("data", `helper-${i}.db`);
      fs.copyFileSync(template, db);
      const m = await strataUp(db, dir);
      expectCount(db, bumped, rows, key);
      series[key]!.push(sample(m, { rowsPerSecond: Math.round(rows / (m.wallMs / 1000)) }));
      removeDb(db);
    }
    removeDb(template);
    summaries.push(summarize(series[key]!));
  }
  const [small, large] = summaries as [Summary, Summary];
  const rate = (rows: number, s: Summary): number => rows / (s.medianMs / 1000);
  const growth = large.peakMb !== null && small.peakMb !== null ? large.peakMb / small.peakMb : NaN;
  return {
    series,
    rows: [
      {
        workload: `the same through strata's \`updateInBatches\` (up()'s second argument): ${n.toLocaleString("en-US")} rows in pages of 5,000`,
        strata: `${fmtTime(small)} = ${fmtRate(rate(n, small))}`,
        reference: "–",
        ratio: "–",
        strataPeak: fmtMb(small.peakMb),
        referencePeak: "–",
        target: "≥ 1,000,000 rows/s",
        verdict: verdictCell(rate(n, small) >= 1_000_000 ? "met" : "missed"),
      },
      {
        workload: `\`updateInBatches\` on ${sizes.moreRows.toLocaleString("en-US")} rows`,
        strata: `${fmtTime(large)} = ${fmtRate(rate(sizes.moreRows, large))}`,
        reference: `peak at ${n.toLocaleString("en-US")} rows (row above)`,
        ratio: `${growth.toFixed(2)}× the peak`,
        strataPeak: fmtMb(large.peakMb),
        referencePeak: fmtMb(small.peakMb),
        target: "peak RSS within 10 % of the smaller run",
        verdict: verdictCell(growth <= 1.1 ? "met" : "missed"),
      },
    ],
  };
}

// ------------------------------------------------------------------------------------ main

async function main(): Promise<number> {
  const started = performance.now();
  progress(`strata bench: ${quick ? "quick" : "full"} run, ${reps} repetition(s), temp dir ${tmpRoot}`);
  STRATA = ensureBinary();
  const dbmate = dbmateBinary();
  DBMATE = dbmate.path;
  const info = machine(STRATA, DBMATE);
  // Warm the page cache with both executables before anything is timed.
  for (const cmd of [STRATA, DBMATE]) for (let i = 0; i < 2; i++) await measure(cmd, ["--version"], childEnv);

  const table: Row[] = [];
  const series: Record<string, Sample[]> = {};
  const notes: string[] = [];
  const errors: string[] = [];
  const plan: [WorkloadId, string, () => Promise<WorkloadResult>][] = [
    ["noop", "cold no-op up", noop],
    ["fresh", "fresh up", fresh],
    ["remote", "remote up", remote],
    ["backup", "backup and restore", () => localBackupWorkload({ strata: STRATA, sqlite3: SQLITE3, env: childEnv, reps, dir: freshDir("backup"), megabytes: sizes.backupMb, progress })],
    ["remote-backup", "remote backup/restore", () => remoteBackupWorkload({ strata: STRATA, env: childEnv, reps, dir: freshDir("remote-backup"), latencyMs: LATENCY_MS, progress })],
    ["data", "TS data migration", data],
    ["fleet", "fleet up", () => fleetWorkload({ strata: STRATA, env: childEnv, tmp, reps, quick, latencyMs: LATENCY_MS, progress })],
    ["rehearse", "rehearse", () => rehearseWorkload({ strata: STRATA, env: childEnv, reps, dir: freshDir("rehearse"), megabytes: sizes.backupMb, migrations: path.join(root, "migrations"), progress })],
    ["size", "executable size", () => sizeWorkload({ root, strata: STRATA, dbmate: DBMATE, tmp, progress })],
  ];
  for (const [id, label, fn] of plan) {
    if (!only.has(id)) continue;
    progress(`${label}…`);
    try {
      const r = await fn();
      table.push(...r.rows);
      Object.assign(series, r.series);
      notes.push(...r.notes);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors.push(`${label}: ${msg}`);
      progress(`ERROR in ${label}: ${msg}`);
      table.push({ workload: label, strata: "error", reference: "–", ratio: "–", strataPeak: "–", referencePeak: "–", target: "–", verdict: verdictCell("error", msg.split("\n")[0]!.slice(0, 120)) });
    }
  }

  const header = [
    `# strata benchmark — ${quick ? "quick smoke run" : "full run"}`,
    "",
    `${reps} repetition(s) per workload (the no-op workload: ${reps * 6}), strata and the reference interleaved; times are medians over repetitions with <sub>(min–max)</sub>; peak RSS is the highest over repetitions. Each run is a new process (cold start, warm page cache).`,
    "",
    ...Object.entries(info).map(([k, v]) => `- **${k}**: ${v}`),
    `- **dbmate run as**: ${dbmate.note}, \`--no-dump-schema\`; strata as \`bin/strata\` (bun build --compile)`,
    `- **sizes**: ${sizes.migrations} migrations (no-op), ${sizes.bulk.join(" and ")} (fresh), ${sizes.remoteMigrations} remote migrations, ${sizes.backupMb} MB backup source, ${sizes.rows.toLocaleString("en-US")} rows for the data migration (and ${sizes.moreRows.toLocaleString("en-US")} for updateInBatches)`,
    "",
  ];
  const markdown = [
    ...header,
    markdownTable(table),
    "",
    ...(baseline ? [baselineMarkdown(flags.baseline!, compareToBaseline(baseline, series)), ""] : []),
    ...(notes.length ? ["Notes:", "", ...notes.map((n) => `- ${n}`), ""] : []),
    ...(errors.length ? ["Errors:", "", ...errors.map((e) => `- ${e.replace(/\n/g, "\n  ")}`), ""] : []),
    `Total bench time: ${fmtMs(performance.now() - started)}.`,
    "",
  ].join("\n");

  const outDir = path.join(here, "results");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "latest.md"), markdown);
  fs.writeFileSync(
    path.join(outDir, "latest.json"),
    `${JSON.stringify({ quick, reps, sizes, machine: info, table, notes, errors, series, totalMs: round(performance.now() - started, 0) }, null, 2)}\n`,
  );
  if (flags["save-baseline"]) fs.copyFileSync(path.join(outDir, "latest.json"), flags["save-baseline"]);
  process.stdout.write(`\n${markdown}`);
  progress(`written to ${path.relative(process.cwd(), path.join(outDir, "latest.md"))} and latest.json`);
  return errors.length ? 1 : 0;
}

main()
  .then((code) => {
    cleanup();
    process.exitCode = code;
  })
  .catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    cleanup();
    process.exitCode = 1;
  });
