#!/usr/bin/env node
/**
 * strata's entry point (Node via tsx, Deno, and the compiled binary). Nothing runs at import
 * time but argument parsing; commands load their modules lazily so start-up stays fast.
 * Library users import src/index.ts instead.
 */
import process from "node:process";
import { main } from "./cli/run.ts";
import { tsMigrationCodeRan } from "./script/ts-runner.ts";

process.exitCode = await main(process.argv.slice(2));
// Timers or sockets a TS migration left behind must not keep strata from exiting.
if (tsMigrationCodeRan()) process.exit(process.exitCode);
