/**
 * Progress of a fleet run on stderr. On a terminal: one live line (done, failed, running,
 * remaining, ETA) redrawn in place, with each failure printed above it. Elsewhere (cron, CI,
 * journald): one timestamped line per finished target, through the logger.
 */
import process from "node:process";
import type { Logger } from "../output/logger.ts";
import { redactSecrets } from "../output/redact.ts";

export interface Finished {
  target: string;
  ok: boolean;
  /** One line: what happened to the target. */
  summary: string;
}

const REDRAW_MS = 100;

export class FleetProgress {
  private running = 0;
  private done = 0;
  private failed = 0;
  private lastDraw = 0;
  private drawn = false;
  private readonly startedAt = performance.now();
  private readonly live: boolean;
  private readonly total: number;
  private readonly logger: Logger;
  private readonly write: (text: string) => void;

  constructor(total: number, logger: Logger, write: (text: string) => void = (t) => void process.stderr.write(t)) {
    this.total = total;
    this.logger = logger;
    this.write = write;
    this.live = logger.tty && !logger.quiet;
  }

  started(): void {
    this.running++;
    this.draw(false);
  }

  finished(f: Finished): void {
    this.running--;
    this.done++;
    if (!f.ok) this.failed++;
    const line = `[${this.done}/${this.total}] ${f.target}: ${f.summary}`;
    if (this.live) {
      if (!f.ok) {
        this.clear();
        this.logger.error(line);
      }
      this.draw(true);
    } else if (f.ok) this.logger.info(line);
    else this.logger.error(line);
  }

  /** Removes the live line before the summary is printed. */
  end(): void {
    this.clear();
  }

  /** "12/50 done, 1 failed, 8 running, 29 remaining, ETA 0:14" */
  line(now = performance.now()): string {
    const remaining = this.total - this.done - this.running;
    const elapsed = now - this.startedAt;
    const eta = this.done > 0 ? formatEta((elapsed / this.done) * (this.total - this.done)) : "…";
    return `${this.done}/${this.total} done, ${this.failed} failed, ${this.running} running, ${remaining} remaining, ETA ${eta}`;
  }

  private draw(force: boolean): void {
    if (!this.live) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.write(`\r\x1b[K${redactSecrets(this.line(now))}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.write("\r\x1b[K");
    this.drawn = false;
  }
}

export function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
