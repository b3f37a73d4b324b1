/**
 * Human output goes to stderr; stdout is reserved for results (--json, or the command's text
 * report). On a TTY lines are short and coloured (unless NO_COLOR); otherwise each line carries
 * an ISO timestamp and a level, which is what journald, cron mail and CI logs want.
 */
import process from "node:process";
import { redactSecrets } from "./redact.ts";
import { isTerminal, writeFd } from "./fd.ts";

export type Level = "debug" | "info" | "warn" | "error";

export interface LoggerOptions {
  quiet?: boolean;
  verbose?: boolean;
  /** Defaults to whether stderr is a TTY. */
  tty?: boolean;
  color?: boolean;
  write?: (text: string) => void;
}

const colors: Record<Level, string> = { debug: "\x1b[2m", info: "\x1b[36m", warn: "\x1b[33m", error: "\x1b[31m" };
const RESET = "\x1b[0m";

export class Logger {
  readonly verbose: boolean;
  readonly quiet: boolean;
  readonly tty: boolean;
  readonly color: boolean;
  private readonly write: (text: string) => void;

  constructor(options: LoggerOptions = {}) {
    this.verbose = options.verbose ?? false;
    this.quiet = options.quiet ?? false;
    this.tty = options.tty ?? isTerminal(2);
    this.color = options.color ?? (this.tty && !noColor());
    this.write = options.write ?? ((text) => writeFd(2, text));
  }

  debug(message: string): void {
    if (this.verbose) this.emit("debug", message);
  }
  info(message: string): void {
    if (!this.quiet) this.emit("info", message);
  }
  warn(message: string): void {
    this.emit("warn", message);
  }
  error(message: string): void {
    this.emit("error", message);
  }

  /** A progress line: on a TTY it is prefixed with the step counter; plain elsewhere. */
  progress(step: number, total: number, message: string): void {
    if (this.quiet) return;
    this.emit("info", total > 1 ? `[${step}/${total}] ${message}` : message);
  }

  /**
   * A migration starts. Elsewhere a log line; on a TTY a live line that shows the time running
   * and is replaced by the stepDone line.
   */
  stepStarted(step: number, total: number, message: string): void {
    if (this.quiet) return;
    this.runStartedAt ??= performance.now();
    const text = `${counter(step, total)}${message}`;
    if (!this.tty) return this.emit("info", text);
    this.clearLive();
    const started = performance.now();
    const draw = () => this.write(`\r\x1b[K${redactSecrets(text)} … ${seconds(performance.now() - started)}`);
    this.live = { draw, timer: setInterval(draw, 250) };
    this.live.timer.unref?.();
    draw();
  }

  /** A migration committed: one line each, with its own time and the run's elapsed time. */
  stepDone(step: number, total: number, message: string, durationMs: number): void {
    if (this.quiet) return;
    this.clearLive();
    const elapsed = this.runStartedAt === undefined ? "" : `, ${seconds(performance.now() - this.runStartedAt)} elapsed`;
    this.emit("info", `${counter(step, total)}${message} in ${Math.round(durationMs)} ms${elapsed}`);
  }

  private live: { draw: () => void; timer: ReturnType<typeof setInterval> } | undefined;
  private runStartedAt: number | undefined;

  private clearLive(): void {
    if (!this.live) return;
    clearInterval(this.live.timer);
    this.live = undefined;
    this.write("\r\x1b[K");
  }

  private emit(level: Level, message: string): void {
    const text = redactSecrets(message);
    if (this.tty) {
      // A live progress line is cleared for the message and drawn again below it.
      const live = this.live;
      if (live) this.write("\r\x1b[K");
      const label = level === "info" ? "" : `${level}: `;
      const line = this.color ? `${colors[level]}${label}${RESET}${text}` : `${label}${text}`;
      this.write(line + "\n");
      live?.draw();
    } else {
      this.write(`${new Date().toISOString()} ${level.padEnd(5)} ${text}\n`);
    }
  }
}

function counter(step: number, total: number): string {
  return total > 1 ? `[${step}/${total}] ` : "";
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function noColor(): boolean {
  const v = process.env.NO_COLOR;
  return v !== undefined && v !== "";
}

/** Logger that discards everything: the default for library use. */
export const silentLogger = new Logger({ quiet: true, tty: false, write: () => {} });
