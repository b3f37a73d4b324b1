/**
 * Process choreography for `deploy`, with zx: starting the app (in its own process group, so
 * strata can signal the app and everything it started), shell commands for health checks, stop
 * and rollback, and health polling with exponential backoff.
 *
 * Output: the app's stdout and stderr go to strata's stderr (stdout is reserved for strata's
 * result and --json) as file descriptors, so nothing is buffered in memory however long the app
 * runs. Health-check output is captured (it is short) for the failure message.
 */
import fs from "node:fs";
import os from "node:os";
import process from "node:process";
import { $, expBackoff, quote, type ProcessPromise } from "zx";
import { messageOf } from "../errors.ts";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Exit status as a shell reports it: the code, or 128 + the signal number. */
export function exitStatus(exit: Exit): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal ? (process.platform === "win32" ? 1 : signalNumber(exit.signal)) : 1;
  return 128 + n;
}

function signalNumber(signal: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[signal] ?? 1;
}

export function describeExit(exit: Exit): string {
  return exit.code !== null ? `exit code ${exit.code}` : `signal ${exit.signal}`;
}

let shellPath: string | undefined;

/** bash when there is one (zx's default), else /bin/sh. */
function shell(): string {
  if (shellPath) return shellPath;
  for (const candidate of ["/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash"]) {
    if (fs.existsSync(candidate)) return (shellPath = candidate);
  }
  return (shellPath = "/bin/sh");
}

/** Shell text as a template-strings array: zx runs it verbatim (no quoting of a raw command). */
function verbatim(text: string): TemplateStringsArray {
  return Object.assign([text], { raw: [text] }) as unknown as TemplateStringsArray;
}

/**
 * The start command: one argument is shell text (`"systemctl restart calendar"`, `./start.sh`);
 * several are an argv, each quoted.
 */
export function commandText(argv: string[]): string {
  return argv.length === 1 ? argv[0]! : argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : quote(a))).join(" ");
}

function zx(options: { detached?: boolean; capture?: boolean; timeoutMs?: number; signal?: AbortSignal }) {
  return $({
    shell: shell(),
    prefix: "",
    postfix: "",
    quiet: true,
    verbose: false,
    nothrow: true,
    detached: options.detached ?? false,
    stdio: options.capture ? ["ignore", "pipe", "pipe"] : ["ignore", 2, 2],
    ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs, timeoutSignal: "SIGKILL" as const } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** The app started by deploy. */
export class AppProcess {
  readonly command: string;
  readonly pid: number | undefined;
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  private readonly proc: ProcessPromise;

  constructor(command: string) {
    this.command = command;
    // Its own process group: signals reach the app and its children, and a Ctrl-C in the
    // terminal reaches strata only, which decides what the app gets.
    this.proc = zx({ detached: true })(verbatim(command));
    this.pid = this.proc.pid;
    this.exited = this.proc.then(
      (out) => (this.exit = { code: out.exitCode, signal: out.signal }),
      (e: unknown) => (this.exit = { code: 127, signal: null, error: messageOf(e) } as Exit),
    );
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Sends `signal` to the app's process group (falls back to the process alone). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        process.kill(this.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  async stop(graceMs: number): Promise<Exit & { killed: boolean }> {
    if (!this.running) return { ...this.exit!, killed: false };
    this.signal("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), graceMs)));
    const first = await Promise.race([this.exited, grace]);
    clearTimeout(timer);
    if (first === "timeout") {
      this.signal("SIGKILL");
      return { ...(await this.exited), killed: true };
    }
    return { ...(await this.exited), killed: false };
  }
}

export interface ShellResult extends Exit {
  ok: boolean;
  output: string;
  durationMs: number;
}

/** Runs shell text; its output goes to stderr, or is captured with `capture`. */
export async function runShell(text: string, options: { capture?: boolean; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ShellResult> {
  const started = Date.now();
  try {
    const out = await zx(options)(verbatim(text));
    return { ok: out.exitCode === 0, code: out.exitCode, signal: out.signal, output: options.capture ? out.stdall.trim() : "", durationMs: Date.now() - started };
  } catch (e) {
    return { ok: false, code: null, signal: null, output: messageOf(e), durationMs: Date.now() - started };
  }
}

export interface HealthOptions {
  url?: string | undefined;
  cmd?: string | undefined;
  timeoutMs: number;
  app: AppProcess;
  signal: AbortSignal;
  onLauncher?: () => void;
}

export interface HealthResult {
  healthy: boolean;
  /** The start command exited 0 before health was reached: a launcher (systemctl restart …). */
  launcher: boolean;
  attempts: number;
  detail: string;
}

/** Without a health check: a running app counts as started after this long. */
const SETTLE_MS = 2000;

/**
 * Polls health until it answers, the app fails, time runs out or the deploy is interrupted.
 * Backoff: 200 ms doubling to 2 s between attempts (zx's expBackoff).
 */
export async function waitHealthy(options: HealthOptions): Promise<HealthResult> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const delays = expBackoff("2s", "200ms");
  let attempts = 0;
  let last = "no answer yet";
  let launcher = false;
  for (;;) {
    if (options.signal.aborted) return { healthy: false, launcher, attempts, detail: "interrupted" };
    const exit = options.app.exit;
    if (exit && !launcher) {
      if (exit.code !== 0) return { healthy: false, launcher, attempts, detail: `start command ended with ${describeExit(exit)} before it was healthy` };
      launcher = true;
      options.onLauncher?.();
    }
    if (options.url === undefined && options.cmd === undefined) {
      if (launcher) return { healthy: true, launcher, attempts, detail: "start command exited 0 (no health check given)" };
      if (Date.now() - started >= Math.min(SETTLE_MS, options.timeoutMs)) {
        return { healthy: true, launcher, attempts, detail: `still running after ${Math.round((Date.now() - started) / 100) / 10} s (no health check given)` };
      }
    } else {
      attempts++;
      // Each attempt gets at least a second, even at the deadline: a slow answer is an answer.
      const remaining = Math.max(1000, deadline - Date.now());
      const probe = options.url !== undefined ? await probeUrl(options.url, Math.min(5000, remaining), options.signal) : await probeCmd(options.cmd!, Math.min(10_000, remaining), options.signal);
      if (probe.ok) return { healthy: true, launcher, attempts, detail: `${probe.detail} after ${attempts} attempt(s), ${((Date.now() - started) / 1000).toFixed(1)} s` };
      last = probe.detail;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const what = options.url ?? options.cmd ?? "start";
      return { healthy: false, launcher, attempts, detail: `not healthy after ${(options.timeoutMs / 1000).toFixed(0)} s (${what}: ${attempts} attempts, last: ${last})` };
    }
    // Wake early when the app exits (a failure to report, or a launcher done), not once it has.
    await pause(Math.min(delays.next().value ?? 2000, remaining), options.signal, options.app.running ? options.app.exited : undefined);
  }
}

async function probeUrl(url: string, timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), redirect: "manual" });
    await res.body?.cancel();
    return { ok: res.ok, detail: `GET ${url} -> ${res.status}` };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    return { ok: false, detail: `GET ${url} -> ${cause?.code ?? messageOf(e)}` };
  }
}

async function probeCmd(cmd: string, timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
  const r = await runShell(cmd, { capture: true, timeoutMs, signal });
  const tail = r.output.split("\n").filter(Boolean).pop() ?? "";
  return { ok: r.ok, detail: `\`${cmd}\` -> ${describeExit(r)}${tail ? ` (${tail.slice(0, 200)})` : ""}` };
}

/** Sleeps, waking early when the deploy is interrupted or the app exits. */
function pause(ms: number, signal: AbortSignal, exited: Promise<unknown> | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    void exited?.then(done);
  });
}
