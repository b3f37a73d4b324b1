/**
 * SIGINT / SIGTERM during a migration run. The first signal asks the engine to stop between
 * migrations: the one in flight finishes (its transaction commits, or rolls back if it fails),
 * no further one starts, the lock is released and the audit row written, and strata exits 130
 * (SIGINT) or 143 (SIGTERM). A second signal exits at once: SQLite rolls the open transaction
 * back, and the next run takes the lock over (its holder's process is gone).
 */
import process from "node:process";
import type { Logger } from "../output/logger.ts";

// Taken at load time: while a TS migration runs, process.exit is guarded (a migration must not
// exit), and the second signal must get past that guard.
const exitNow = process.exit.bind(process);

const EXIT_BY_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof EXIT_BY_SIGNAL;

export interface Interruption {
  signal: AbortSignal;
  /** The exit code the received signal asks for, or undefined when none came. */
  exitCode(): number | undefined;
  dispose(): void;
}

export function interruptible(logger: Logger): Interruption {
  const controller = new AbortController();
  let received: HandledSignal | undefined;
  const handler = (name: HandledSignal) => {
    if (received !== undefined) {
      logger.error(`second ${name}: stopping at once; the migration in flight rolls back and the next run takes the lock over`);
      exitNow(EXIT_BY_SIGNAL[name]);
    }
    received = name;
    logger.warn(`${name} received: stopping once the migration in flight has committed or rolled back (send it again to stop at once)`);
    controller.abort();
  };
  const onInt = () => handler("SIGINT");
  const onTerm = () => handler("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return {
    signal: controller.signal,
    exitCode: () => (received === undefined ? undefined : EXIT_BY_SIGNAL[received]),
    dispose: () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
}
