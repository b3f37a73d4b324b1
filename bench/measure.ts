/**
 * Running benchmark commands: wall time and peak memory of one child process, and a registry of
 * every child started so that all of them can be killed when the bench ends (also on errors and
 * on Ctrl-C).
 *
 * Peak memory (and CPU time) come from GNU time (`/usr/bin/time -f '%e %M %U %S'`, Debian
 * package `time`) when it is installed, else from polling /proc/<pid>/status (VmHWM) every few
 * milliseconds. Wall time is always taken here, from spawn to exit (GNU time's %e has only 10 ms
 * resolution).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";

export const GNU_TIME = "/usr/bin/time";
export const hasGnuTime = fs.existsSync(GNU_TIME);

export interface Measurement {
  wallMs: number;
  /** Peak resident set size in MB (MiB), or null when it could not be measured. */
  peakMb: number | null;
  /** User + system CPU time in ms (GNU time only), or null. */
  cpuMs: number | null;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface MeasureOptions {
  cwd?: string;
  /** Kill the command (SIGKILL) after this long. Default 15 minutes. */
  timeoutMs?: number;
  /** Return failures instead of throwing. */
  allowFailure?: boolean;
}

/** A command failed: the bench reports it and exits non-zero. */
export class CommandFailed extends Error {}

const live = new Set<ChildProcess>();

/** Starts a tracked child in its own process group (so the whole group can be killed). */
export function spawnTracked(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
  const child = spawn(cmd, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  return child;
}

/** Kills one tracked child's process group. */
export function killTracked(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kills every child still running. Synchronous, so it also works from an exit handler. */
export function killAll(): void {
  for (const child of live) killTracked(child);
  live.clear();
}

let scratchDir: string | undefined;
function scratch(): string {
  if (scratchDir === undefined) {
    scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-measure-"));
    process.once("exit", removeMeasureScratch);
  }
  return scratchDir;
}
export function removeMeasureScratch(): void {
  if (scratchDir) fs.rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}
let counter = 0;

/** Runs `cmd args` to completion and returns its wall time and peak RSS. */
export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, options: MeasureOptions = {}): Promise<Measurement> {
  const timeFile = hasGnuTime ? path.join(scratch(), `time-${process.pid}-${counter++}.txt`) : undefined;
  const [file, argv] = timeFile ? [GNU_TIME, ["-f", "%e %M %U %S", "-o", timeFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawnTracked(file, argv, env, options.cwd);
    let ended = 0;
    let hwmKb = 0;
    const poll = timeFile
      ? undefined
      : setInterval(() => {
          hwmKb = Math.max(hwmKb, readHwmKb(child.pid));
        }, 2);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    child.stdin!.end();
    const timer = setTimeout(() => killTracked(child), options.timeoutMs ?? 15 * 60_000);
    child.once("exit", () => {
      ended = performance.now();
      if (poll) clearInterval(poll);
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      reject(new CommandFailed(`cannot run ${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      const stdout = Buffer.concat(out).toString("utf8");
      let stderr = Buffer.concat(err).toString("utf8");
      let peakMb: number | null = hwmKb > 0 ? hwmKb / 1024 : null;
      let cpuMs: number | null = null;
      if (timeFile) {
        const text = fs.existsSync(timeFile) ? fs.readFileSync(timeFile, "utf8") : "";
        fs.rmSync(timeFile, { force: true });
        // GNU time writes "Command exited with non-zero status N" before the format line.
        const m = /(\d+(?:\.\d+)?) (\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)\s*$/.exec(text);
        peakMb = m ? Number(m[2]) / 1024 : null;
        cpuMs = m ? (Number(m[3]) + Number(m[4])) * 1000 : null;
        if (!m && text.trim()) stderr += `\n[time] ${text.trim()}`;
      }
      const result: Measurement = { wallMs: (ended || performance.now()) - started, peakMb, cpuMs, code, signal, stdout, stderr };
      if ((code !== 0 || signal !== null) && !options.allowFailure) {
        reject(new CommandFailed(`${[cmd, ...args].join(" ")} failed (${signal ?? `exit ${code}`}):\n${tail(stderr || stdout)}`));
        return;
      }
      resolve(result);
    });
  });
}

function readHwmKb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Runs a command without measuring it (setup steps); throws on failure. */
export async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, options: MeasureOptions = {}): Promise<string> {
  const r = await measure(cmd, args, env, options);
  return r.stdout;
}
