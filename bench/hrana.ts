/**
 * Client side of bench/hrana-counted.ts: starts the test server as a tracked child process and
 * reads its request counters over a line protocol on stdin/stdout.
 */
import path from "node:path";
import process from "node:process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { CommandFailed, killTracked, spawnTracked, tail } from "./measure.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const TSX_LOADER = import.meta.resolve("tsx");

export interface HranaStats {
  requests: number;
  pipelines: number;
  /** Summed time from each request's arrival to its response's end (added latency included). */
  serverMs: number;
  byShape: Record<string, number>;
}

export interface CountedServer {
  url: string;
  stats(): Promise<HranaStats>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCountedServer(dbPath: string, latencyMs: number, env: NodeJS.ProcessEnv): Promise<CountedServer> {
  const child = spawnTracked(
    process.execPath,
    ["--import", TSX_LOADER, path.join(here, "hrana-counted.ts"), "--db", dbPath, "--latency-ms", String(latencyMs)],
    env,
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  let exited = false;
  const failAll = (): void => {
    exited = true;
    for (const w of waiting.splice(0)) w("");
  };
  child.once("exit", failAll);
  lines.on("line", (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queued.push(line);
  });
  const nextLine = (timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const q = queued.shift();
      if (q !== undefined) return resolve(q);
      if (exited) return reject(new CommandFailed(`hrana test server exited:\n${tail(stderr)}`));
      const timer = setTimeout(() => reject(new CommandFailed(`hrana test server did not answer within ${timeoutMs} ms:\n${tail(stderr)}`)), timeoutMs);
      waiting.push((line) => {
        clearTimeout(timer);
        if (line === "" && exited) reject(new CommandFailed(`hrana test server exited:\n${tail(stderr)}`));
        else resolve(line);
      });
    });
  const ask = async (cmd: string): Promise<unknown> => {
    child.stdin!.write(`${cmd}\n`);
    return JSON.parse(await nextLine(10_000)) as unknown;
  };

  let url: string;
  try {
    url = (JSON.parse(await nextLine(30_000)) as { url: string }).url;
  } catch (e) {
    killTracked(child);
    throw e;
  }
  return {
    url,
    stats: async () => (await ask("stats")) as HranaStats,
    reset: async () => void (await ask("reset")),
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.stdin!.end();
      const timer = setTimeout(() => killTracked(child), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}
