/**
 * Human output goes to stderr; stdout is reserved for results (--json, or the command's text
 * report). On a TTY lines are short and coloured (unless NO_COLOR); otherwise each line carries
 * an ISO timestamp and a level, which is what journald, cron mail and CI logs want.
 */
import process from "node:process";
import { redactSecrets } from "./redact.ts";

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
    this.tty = options.tty ?? Boolean(process.stderr.isTTY);
    this.color = options.color ?? (this.tty && !noColor());
    this.write = options.write ?? ((text) => void process.stderr.write(text));
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

  private emit(level: Level, message: string): void {
    const text = redactSecrets(message);
    if (this.tty) {
      const label = level === "info" ? "" : `${level}: `;
      const line = this.color ? `${colors[level]}${label}${RESET}${text}` : `${label}${text}`;
      this.write(line + "\n");
    } else {
      this.write(`${new Date().toISOString()} ${level.padEnd(5)} ${text}\n`);
    }
  }
}

export function noColor(): boolean {
  const v = process.env.NO_COLOR;
  return v !== undefined && v !== "";
}

/** Logger that discards everything: the default for library use. */
export const silentLogger = new Logger({ quiet: true, write: () => {} });
