/**
 * Progress of long copies (rows and bytes). On a TTY one status line is redrawn in place, at
 * most ten times a second; elsewhere a plain log line (timestamped by the Logger) every few
 * seconds, so journald and CI logs show that a long backup is moving without being flooded.
 */
import process from "node:process";
import type { Logger } from "../output/logger.ts";
import { redactSecrets } from "../output/redact.ts";
import { formatBytes } from "./files.ts";

const TTY_INTERVAL_MS = 100;
const LOG_INTERVAL_MS = 5000;

export class Progress {
  private readonly logger: Logger;
  private readonly label: string;
  private readonly started = Date.now();
  private last = Date.now();
  private drawn = false;

  constructor(logger: Logger, label: string) {
    this.logger = logger;
    this.label = label;
  }

  /** Reports `rows` and `bytes` so far, with an optional detail (the table being copied). */
  update(rows: number | undefined, bytes: number | undefined, detail?: string): void {
    if (this.logger.quiet) return;
    const now = Date.now();
    const interval = this.logger.tty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS;
    if (now - this.last < interval) return;
    this.last = now;
    const text = describe(this.label, rows, bytes, detail, now - this.started);
    if (this.logger.tty) {
      process.stderr.write(`\r\x1b[2K${redactSecrets(text)}`);
      this.drawn = true;
    } else {
      this.logger.info(text);
    }
  }

  /** Clears the status line; the caller logs the final summary. */
  end(): void {
    if (this.drawn) process.stderr.write("\r\x1b[2K");
    this.drawn = false;
  }
}

function describe(label: string, rows: number | undefined, bytes: number | undefined, detail: string | undefined, ms: number): string {
  const parts = [label];
  if (detail) parts.push(detail);
  const amounts: string[] = [];
  if (rows !== undefined) amounts.push(`${rows.toLocaleString("en-US")} rows`);
  if (bytes !== undefined) amounts.push(formatBytes(bytes));
  amounts.push(`${(ms / 1000).toFixed(1)} s`);
  return `${parts.join(" ")}: ${amounts.join(", ")}`;
}
