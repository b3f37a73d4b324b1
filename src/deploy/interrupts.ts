// What a SIGINT/SIGTERM means during `deploy` depends on the phase: before the app is healthy
// it aborts the run (the database is then put back); once the app runs, it is forwarded to it.
import process from "node:process";
import type { Logger } from "../output/logger.ts";
import type { AppProcess } from "./app-process.ts";

export class Interrupts {
  readonly controller = new AbortController();
  received: NodeJS.Signals | null = null;
  /** Set once the app is healthy: signals go to it. */
  forwardTo: AppProcess | undefined;
  phase = "starting";
  private readonly logger: Logger;
  private readonly installed: boolean;
  private readonly handler = (signal: NodeJS.Signals) => this.on(signal);

  constructor(logger: Logger, install: boolean, external: AbortSignal | undefined) {
    this.logger = logger;
    this.installed = install;
    if (install) {
      process.on("SIGINT", this.handler);
      process.on("SIGTERM", this.handler);
    }
    if (external) {
      if (external.aborted) this.on("SIGTERM");
      else external.addEventListener("abort", () => this.on("SIGTERM"), { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private on(signal: NodeJS.Signals): void {
    const app = this.forwardTo;
    if (app?.running) {
      this.logger.info(`forwarding ${signal} to the app (pid ${app.pid})`);
      app.signal(signal);
      return;
    }
    if (this.received === null) {
      this.received = signal;
      this.logger.warn(`received ${signal}: ${this.phase}`);
      this.controller.abort();
    } else {
      this.logger.warn(`received ${signal} again: still ${this.phase}; strata exits once the database is in a consistent state`);
    }
  }

  dispose(): void {
    if (this.installed) {
      process.off("SIGINT", this.handler);
      process.off("SIGTERM", this.handler);
    }
  }
}
