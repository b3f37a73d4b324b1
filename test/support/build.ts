/**
 * Gives tests an up-to-date bin/strata: builds it (the same way as `npm run build`) when it is
 * missing or older than anything it is built from.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const binaryPath = path.join(repoRoot, "bin", "strata");

/** Everything that ends up in the binary: all of src/, plus the build scripts and package manifests. */
function buildInputs(): string[] {
  const files = ["package.json", "package-lock.json", "build.ts"].map((f) => path.join(repoRoot, f));
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(path.join(repoRoot, "src"));
  return files.filter((f) => fs.existsSync(f));
}

/** Why the binary needs (re)building, or undefined when it is current. */
export function staleReason(): string | undefined {
  const binary = fs.statSync(binaryPath, { throwIfNoEntry: false });
  if (!binary) return "bin/strata does not exist";
  for (const file of buildInputs()) {
    if (fs.statSync(file).mtimeMs > binary.mtimeMs) return `${path.relative(repoRoot, file)} is newer than bin/strata`;
  }
  return undefined;
}

/** Returns the path of bin/strata, building it first if needed. Throws with the build output on failure. */
export function ensureBinary(): string {
  const reason = staleReason();
  if (reason === undefined) return binaryPath;
  console.error(`building bin/strata: ${reason}`);
  // What `npm run build` runs, minus npm's own startup.
  const result = spawnSync(path.join(repoRoot, "node_modules", ".bin", "bun"), [path.join(repoRoot, "build.ts")], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 300_000, // a first cross-target run downloads; the host build takes ~1 s
    killSignal: "SIGKILL",
  });
  if (result.status !== 0 || !fs.existsSync(binaryPath)) {
    const why = result.error ? result.error.message : `exit ${result.status ?? result.signal}`;
    throw new Error(`building bin/strata failed (${why}):\n${result.stdout}${result.stderr}`);
  }
  return binaryPath;
}
