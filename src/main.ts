#!/usr/bin/env node
/**
 * strata's entry point (Node via tsx, Deno, and the compiled binary). `up` and `status` with the
 * common options go through the fast path (./cli/fast.ts), which loads neither cmd-ts nor the
 * other verbs; everything else goes to the full CLI, loaded only then. Library users import
 * src/index.ts.
 */
import process from "node:process";
import { fastPath } from "./cli/fast.ts";

const argv = process.argv.slice(2);
const fast = await fastPath(argv);
if (fast !== undefined) {
  // Everything was written synchronously to the fds: exiting now skips the runtime's teardown
  // (and timers or sockets a TS migration left behind).
  process.exit(fast);
} else {
  const [{ main }, { tsMigrationCodeRan }] = await Promise.all([import("./cli/run.ts"), import("./script/ts-runner.ts")]);
  process.exitCode = await main(argv);
  // Timers or sockets a TS migration left behind must not keep strata from exiting.
  if (tsMigrationCodeRan()) process.exit(process.exitCode);
}
