/**
 * Fleet workload: many databases (sqld namespaces, one per tenant) migrated by one
 * `strata fleet up --concurrency 16` process, against the shell loop a team writes today,
 * `xargs -P16 strata up`, over the same kind of targets in the same run. Each database sits
 * behind its own delaying proxy (test/support/counting-proxy.ts) adding 20 ms per request.
 * Then memory: peak RSS of `fleet up` over 100 and over 1,000 databases (no added latency).
 */
import fs from "node:fs";
import os from "node:os";
import { createDbClient } from "../src/db/connection.ts";
import { startSqld, type Sqld } from "../test/support/sqld.ts";
import { startCountingProxy, type CountingProxy } from "../test/support/counting-proxy.ts";
import { writeTableMigrations } from "./fixtures.ts";
import { CommandFailed, measure, type Measurement } from "./measure.ts";
import { fmtMb, fmtMs, fmtTime, median, sample, summarize, verdictCell, type Row, type Sample } from "./report.ts";

export interface FleetBenchContext {
  strata: string;
  env: NodeJS.ProcessEnv;
  tmp: (...parts: string[]) => string;
  reps: number;
  quick: boolean;
  latencyMs: number;
  progress: (text: string) => void;
}

export interface FleetBenchResult {
  rows: Row[];
  series: Record<string, Sample[]>;
  notes: string[];
}

let seq = 0;

/** CPU time (user + system, ms) the sqld serving `dbPath` has used so far, from /proc; NaN if unknown. */
function sqldCpuMs(dbPath: string): number {
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(dbPath)) continue;
      const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
    } catch {
      /* gone meanwhile */
    }
  }
  return NaN;
}

/** `n` new namespaces; with latency, each behind its own delaying proxy. Returns the targets file. */
async function tenants(server: Sqld, ctx: FleetBenchContext, n: number, latencyMs: number, proxies: CountingProxy[]): Promise<{ file: string; urls: string[] }> {
  const urls: string[] = [];
  const targets: string[] = [];
  for (let i = 0; i < n; i++) {
    const url = await server.createNamespace(`b${process.pid}x${++seq}`);
    urls.push(url);
    if (latencyMs > 0) {
      const proxy = await startCountingProxy(url, { latencyMs });
      proxies.push(proxy);
      targets.push(proxy.url);
    } else targets.push(url);
  }
  const file = ctx.tmp("fleet", `targets-${seq}.txt`);
  fs.writeFileSync(file, targets.join("\n") + "\n");
  return { file, urls };
}

/** Reads back every database: all `count` migrations recorded. */
async function expectAtHead(server: Sqld, urls: string[], count: number, what: string): Promise<void> {
  for (const url of urls) {
    const client = createDbClient(url, { authToken: server.token });
    try {
      const n = Number((await client.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n);
      if (n !== count) throw new CommandFailed(`${what}: ${url} has ${n} of ${count} migrations`);
    } finally {
      client.close();
    }
  }
}

export async function fleetWorkload(ctx: FleetBenchContext): Promise<FleetBenchResult> {
  const sizes = ctx.quick ? { databases: 20, migrations: 5, memory: [20, 200] } : { databases: 100, migrations: 20, memory: [100, 1000] };
  const dir = writeTableMigrations(ctx.tmp("fleet", "migrations"), sizes.migrations).strata;
  const fleet: Sample[] = [];
  const loop: Sample[] = [];
  const memory: Record<number, Sample> = {};
  // A fresh sqld for every measurement: sqld slows down as namespaces pile up (1,000 cost
  // 13× the time of 100), which would favour whichever variant ran first.
  const onFreshServer = async <T>(namespaces: number, fn: (server: Sqld, env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> => {
    // Past --max-active-namespaces (default 100) sqld evicts namespaces and, under load, answers
    // some requests with a spurious 404 (NamespaceDoesntExist) — measured on 0.24.
    const server = await startSqld({ namespaces: true, args: ["--max-active-namespaces", String(namespaces + 10)] });
    try {
      return await fn(server, { ...ctx.env, DATABASE_AUTH_TOKEN: server.token });
    } finally {
      await server.stop();
    }
  };
  const fleetUp = (file: string, env: NodeJS.ProcessEnv) => measure(ctx.strata, ["fleet", "up", "--targets", file, "--dir", dir, "--concurrency", "16", "--quiet"], env);
  const shellLoop = (file: string, env: NodeJS.ProcessEnv) =>
    measure("sh", ["-c", `xargs -P16 -I{} "$STRATA" up --url {} --dir "$DIR" --quiet < "$TARGETS"`], { ...env, STRATA: ctx.strata, DIR: dir, TARGETS: file });

  for (let i = 0; i < ctx.reps; i++) {
    // Alternate which one goes first.
    const order: ["fleet" | "loop", Sample[]][] = i % 2 === 0 ? [["fleet", fleet], ["loop", loop]] : [["loop", loop], ["fleet", fleet]];
    for (const [kind, samples] of order) {
      ctx.progress(`  fleet rep ${i + 1}/${ctx.reps}: ${kind === "fleet" ? "strata fleet up" : "xargs -P16 strata up"}, ${sizes.databases} databases × ${sizes.migrations} migrations, +${ctx.latencyMs} ms`);
      await onFreshServer(sizes.databases, async (server, env) => {
        const proxies: CountingProxy[] = [];
        try {
          const { file, urls } = await tenants(server, ctx, sizes.databases, ctx.latencyMs, proxies);
          const cpu0 = sqldCpuMs(server.dbPath);
          const proxyCpu0 = process.cpuUsage();
          const m: Measurement = kind === "fleet" ? await fleetUp(file, env) : await shellLoop(file, env);
          const proxyCpu = process.cpuUsage(proxyCpu0);
          const requests = proxies.reduce((a, p) => a + p.stats.requests, 0);
          // The proxies run in this process: its CPU during the run is theirs.
          samples.push(sample(m, { requests, sqldCpuMs: sqldCpuMs(server.dbPath) - cpu0, proxyCpuMs: (proxyCpu.user + proxyCpu.system) / 1000, load1: os.loadavg()[0] }));
          await expectAtHead(server, urls, sizes.migrations, kind);
        } finally {
          await Promise.all(proxies.map((p) => p.close()));
        }
      });
    }
  }
  for (const n of sizes.memory) {
    ctx.progress(`  fleet memory: ${n} databases`);
    await onFreshServer(n, async (server, env) => {
      const { file, urls } = await tenants(server, ctx, n, 0, []);
      memory[n] = sample(await fleetUp(file, env));
      await expectAtHead(server, urls, sizes.migrations, `fleet memory ${n}`);
    });
  }
  const fs_ = summarize(fleet);
  const ls = summarize(loop);
  const speedup = ls.medianMs / fs_.medianMs;
  const [small, large] = sizes.memory as [number, number];
  const growth = memory[large]!.peakMb! / memory[small]!.peakMb!;
  const extra = (s: Sample[], key: "requests" | "sqldCpuMs" | "proxyCpuMs" | "load1") => median(s.map((x) => Number((x.extra as Record<string, unknown> | undefined)?.[key] ?? NaN)));
  const cpu = (s: Sample[]) => median(s.map((x) => x.cpuMs ?? NaN));
  // Two lower bounds for `fleet up`. Latency: each database's requests one after another, 16
  // databases at a time. CPU: strata, sqld and the proxies share this machine's cores, and the
  // shell loop needs the same server work plus a process per database; so the best ratio the
  // cores allow is the loop's CPU over the fleet's (what each run costs all processes together).
  const waves = Math.ceil(sizes.databases / 16);
  const latencyFloorMs = waves * (extra(fleet, "requests") / sizes.databases) * ctx.latencyMs;
  const totalCpu = (s: Sample[]) => cpu(s) + extra(s, "sqldCpuMs") + extra(s, "proxyCpuMs");
  const cores = os.availableParallelism();
  const cpuFloorMs = totalCpu(fleet) / cores;
  const cpuCeiling = totalCpu(loop) / totalCpu(fleet);
  return {
    rows: [
      {
        workload: `fleet: ${sizes.databases} sqld namespaces × ${sizes.migrations} SQL migrations, +${ctx.latencyMs} ms per request`,
        strata: `\`fleet up --concurrency 16\` ${fmtTime(fs_)}`,
        reference: `\`xargs -P16 strata up\` ${fmtTime(ls)}`,
        ratio: `${speedup.toFixed(1)}× faster`,
        strataPeak: fmtMb(fs_.peakMb),
        referencePeak: `${fmtMb(ls.peakMb)} (largest single process)`,
        target: "≥ 3× faster than the shell loop",
        verdict: verdictCell(speedup >= 3 ? "met" : "missed"),
      },
      {
        workload: `fleet memory: \`fleet up\` over ${large} vs ${small} databases (no added latency)`,
        strata: `${fmtMb(memory[large]!.peakMb)} for ${large} (${fmtTime(summarize([memory[large]!]))})`,
        reference: `${fmtMb(memory[small]!.peakMb)} for ${small} (${fmtTime(summarize([memory[small]!]))})`,
        ratio: `${growth.toFixed(2)}× the memory for ${large / small}× the databases`,
        strataPeak: fmtMb(memory[large]!.peakMb),
        referencePeak: "–",
        target: `< 10× (flat in the number of targets)`,
        verdict: verdictCell(growth < 10 ? "met" : "missed"),
      },
    ],
    series: { "fleet/fleet-up": fleet, "fleet/xargs-up": loop, "fleet/memory": Object.values(memory) },
    notes: [
      `Fleet: requests through the proxies (median) — \`fleet up\` ${extra(fleet, "requests")}, the shell loop ${extra(loop, "requests")} ` +
        `(\`up\` is 3 requests per database with work: lock + state, the migrations, read-back + unlock; fleet adds a preview read only until a database has finished with work, ` +
        `and again once one is found at head, so a rerun skips each database at head in one request). ` +
        `CPU during the run (median): strata ${fmtMs(cpu(fleet))} for \`fleet up\` against ${fmtMs(cpu(loop))} for the ${sizes.databases} processes of the loop; ` +
        `sqld ${fmtMs(extra(fleet, "sqldCpuMs"))} against ${fmtMs(extra(loop, "sqldCpuMs"))}; the delaying proxies ${fmtMs(extra(fleet, "proxyCpuMs"))} against ${fmtMs(extra(loop, "proxyCpuMs"))}; ` +
        `load average ${extra(fleet, "load1").toFixed(1)} during the runs on ${cores} cores.`,
      `Fleet floors: latency ${waves} waves of 16 × ${(extra(fleet, "requests") / sizes.databases).toFixed(2)} requests × ${ctx.latencyMs} ms = ${fmtMs(latencyFloorMs)}; ` +
        `CPU (strata + sqld + proxies on ${cores} cores) ${fmtMs(cpuFloorMs)}. ` +
        `All CPU counted, the loop costs ${cpuCeiling.toFixed(1)}× what \`fleet up\` costs: on a machine whose cores are saturated that is the best ratio possible, ` +
        `since the server work is the same for both (measured ${speedup.toFixed(1)}×).`,
    ],
  };
}
