/**
 * More pairs of the autogenerate property test than the suite runs:
 *   node --import tsx bench/autogen-property.ts [--pairs N] [--seed S]
 * Prints how many pairs passed, and for each failure its seed (replay it in
 * the suite with STRATA_PROPERTY_SEED=S STRATA_PROPERTY_PAIRS=1).
 */
import process from "node:process";
import { checkPair } from "../test/fixtures/property/check.ts";
import { randomPair } from "../test/fixtures/property/generator.ts";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const pairs = arg("pairs", 2000);
const first = arg("seed", 100000);
const failures: { seed: number; error: string }[] = [];
let changed = 0;
let rebuilds = 0;
const started = performance.now();
for (let seed = first; seed < first + pairs; seed++) {
  try {
    const outcome = await checkPair(randomPair(seed));
    if (!outcome.empty) changed++;
    rebuilds += outcome.rebuilt;
  } catch (e) {
    failures.push({ seed, error: String((e as Error).message).split("\n").at(-1) ?? "" });
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(`${pairs - failures.length}/${pairs} pairs passed (${changed} changed something, ${rebuilds} table rebuilds) in ${seconds.toFixed(1)} s`);
for (const f of failures.slice(0, 20)) console.log(`seed ${f.seed}: ${f.error}`);
process.exitCode = failures.length === 0 ? 0 : 1;
