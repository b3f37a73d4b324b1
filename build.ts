/**
 * `npm run build` -> bin/strata: one self-contained executable (Bun runtime + bundled strata +
 * the libSQL native module), made with `bun build --compile`, offline for the host target.
 *
 *   npm run build                                  # host target (linux-x64 here) -> bin/strata
 *   npm run build -- --target linux-arm64          # cross-compile -> bin/strata-linux-arm64
 *   npm run build -- --target linux-x64-musl --outfile dist/strata
 *   npm run build -- --entry /tmp/probe.ts         # compile another entry (build checks)
 *   npm run build -- --no-bytecode                 # skip precompiled bytecode
 *
 * Runs under Node (tsx). This file prepares everything that needs no Bun: arguments, build info
 * (version, commit, target, date), the target's libSQL native module (fetched with `npm pack` when
 * it is not installed, i.e. for other architectures), then runs build.bun.ts with the project's
 * bun, which calls Bun.build with a plugin that pins the native module.
 *
 * Cross targets: Bun downloads the target's runtime (@oven/bun-<os>-<arch>) from the npm registry
 * on first use and caches it in ~/.bun/install/cache; the libSQL module is cached in
 * node_modules/.cache/strata-build. After that, cross builds are offline too.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.dirname(fileURLToPath(import.meta.url));

interface Target {
  /** Bun's compile target. */
  bun: string;
  /** The libsql package holding the native module built for the same OS, CPU and libc. */
  libsql: string;
}

/** Targets we can assemble from registry packages. Keys are what --target accepts. */
const TARGETS: Record<string, Target> = {
  "linux-x64": { bun: "bun-linux-x64", libsql: "@libsql/linux-x64-gnu" },
  // For x64 CPUs without AVX2 (pre-Haswell); same native module.
  "linux-x64-baseline": { bun: "bun-linux-x64-baseline", libsql: "@libsql/linux-x64-gnu" },
  "linux-arm64": { bun: "bun-linux-arm64", libsql: "@libsql/linux-arm64-gnu" },
  "linux-x64-musl": { bun: "bun-linux-x64-musl", libsql: "@libsql/linux-x64-musl" },
  "linux-arm64-musl": { bun: "bun-linux-arm64-musl", libsql: "@libsql/linux-arm64-musl" },
  "darwin-x64": { bun: "bun-darwin-x64", libsql: "@libsql/darwin-x64" },
  "darwin-arm64": { bun: "bun-darwin-arm64", libsql: "@libsql/darwin-arm64" },
};

class BuildError extends Error {}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

/** Host target name, e.g. "linux-x64" or "linux-x64-musl" (Node reports no glibc on musl). */
function hostTarget(): string {
  let libc = "";
  if (process.platform === "linux") {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    if (!report.header?.glibcVersionRuntime) libc = "-musl";
  }
  return `${process.platform}-${process.arch}${libc}`;
}

function gitCommit(): string {
  const git = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" });
  // Not a repository, git missing, or no commit yet.
  return git.status === 0 && git.stdout.trim() ? git.stdout.trim() : "unknown";
}

/** Build time; SOURCE_DATE_EPOCH (seconds) makes it reproducible. */
function buildDate(): string {
  const epoch = process.env["SOURCE_DATE_EPOCH"];
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
  return new Date().toISOString();
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" });
  if (result.error) throw new BuildError(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new BuildError(`${command} ${args.join(" ")} failed (exit ${result.status}):\n${result.stderr.trim()}`);
  }
  return result.stdout;
}

/**
 * Absolute path of the libSQL native module for `pkgName`, at exactly the version the bundled
 * `libsql` package pins (a mismatched native module fails at run time, not at build time).
 * Installed for the host; other architectures come from `npm pack`, checked against the
 * integrity recorded in package-lock.json, and are cached.
 */
function nativeModuleFor(pkgName: string): string {
  const libsqlJson = path.join(root, "node_modules", "libsql", "package.json");
  if (!fs.existsSync(libsqlJson)) throw new BuildError("node_modules/libsql is missing: run npm install");
  const libsql = readJson<{ optionalDependencies?: Record<string, string> }>(libsqlJson);
  const version = libsql.optionalDependencies?.[pkgName];
  if (!version) throw new BuildError(`libsql has no native package ${pkgName}`);

  const nativeIn = (dir: string): string | undefined => {
    const manifest = path.join(dir, "package.json");
    if (!fs.existsSync(manifest)) return undefined;
    const pkg = readJson<{ version: string; main?: string }>(manifest);
    const file = path.join(dir, pkg.main ?? "index.node");
    return pkg.version === version && fs.existsSync(file) ? file : undefined;
  };

  const installed = nativeIn(path.join(root, "node_modules", ...pkgName.split("/")));
  if (installed) return installed;

  const cacheRoot = path.join(root, "node_modules", ".cache", "strata-build");
  const cached = path.join(cacheRoot, `${pkgName.replace("/", "+")}@${version}`);
  const fromCache = nativeIn(cached);
  if (fromCache) return fromCache;

  console.log(`fetching ${pkgName}@${version} (npm pack)…`);
  fs.mkdirSync(cacheRoot, { recursive: true });
  // Work in a scratch dir and rename at the end, so an interrupted fetch never looks cached.
  const scratch = fs.mkdtempSync(path.join(cacheRoot, ".fetch-"));
  try {
    const packed = JSON.parse(run("npm", ["pack", `${pkgName}@${version}`, "--json", "--pack-destination", scratch], scratch)) as
      { filename: string }[];
    const tarball = path.join(scratch, packed[0]!.filename);

    const lock = readJson<{ packages?: Record<string, { integrity?: string }> }>(path.join(root, "package-lock.json"));
    const expected = lock.packages?.[`node_modules/${pkgName}`]?.integrity;
    const actual = `sha512-${createHash("sha512").update(fs.readFileSync(tarball)).digest("base64")}`;
    if (!expected) {
      console.warn(`warning: package-lock.json has no integrity for ${pkgName}; using it unverified`);
    } else if (expected !== actual) {
      throw new BuildError(`${pkgName}@${version}: integrity mismatch (lockfile ${expected}, registry ${actual})`);
    }

    run("tar", ["-xzf", tarball, "-C", scratch], scratch); // npm tarballs unpack into package/
    fs.rmSync(cached, { recursive: true, force: true });
    fs.renameSync(path.join(scratch, "package"), cached);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const fetched = nativeIn(cached);
  if (!fetched) throw new BuildError(`${pkgName}@${version} has no native module`);
  return fetched;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function main(): void {
  const started = performance.now();
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      outfile: { type: "string" },
      entry: { type: "string", default: "src/main.ts" },
      "no-bytecode": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npm run build -- [--target <${Object.keys(TARGETS).join("|")}>] [--outfile <path>] [--entry <file>] [--no-bytecode]`);
    return;
  }

  const host = hostTarget();
  const targetName = (values.target ?? host).replace(/^bun-/, "");
  const target = TARGETS[targetName];
  if (!target) {
    throw new BuildError(`unsupported target "${targetName}"; choose one of: ${Object.keys(TARGETS).join(", ")}`);
  }
  // bin/strata is the host's binary (what package.json "bin" and the tests use); others get a suffix.
  const outfile = path.resolve(values.outfile ?? path.join(root, "bin", targetName === host ? "strata" : `strata-${targetName}`));
  const entry = path.resolve(root, values.entry);
  if (!fs.existsSync(entry)) {
    throw new BuildError(`entry point ${path.relative(root, entry) || entry} does not exist${values.entry === "src/main.ts" ? " (has the CLI landed yet?)" : ""}`);
  }
  const bun = path.join(root, "node_modules", ".bin", "bun");
  if (!fs.existsSync(bun)) throw new BuildError("node_modules/.bin/bun is missing: run npm install");

  const pkg = readJson<{ version: string }>(path.join(root, "package.json"));
  const buildInfo = { version: pkg.version, commit: gitCommit(), target: target.bun, builtAt: buildDate() };
  const nativeModule = nativeModuleFor(target.libsql);

  // Bun writes into a private staging dir next to the destination; the finished executable is
  // then renamed into place, so a failed build never leaves a truncated bin/strata and a reader
  // (e.g. the tests) never sees a half-written one. The staging dir also catches the .map file
  // Bun writes beside the executable (the source map itself is embedded).
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  const staging = fs.mkdtempSync(path.join(path.dirname(outfile), ".strata-build-"));
  let bunMs: number;
  try {
    const staged = path.join(staging, path.basename(outfile));
    const config = {
      entry,
      outfile: staged,
      bunTarget: target.bun,
      nativeModule,
      define: { __STRATA_BUILD_INFO__: JSON.stringify(buildInfo) },
      bytecode: !values["no-bytecode"],
    };
    const bunStarted = performance.now();
    const result = spawnSync(bun, [path.join(root, "build.bun.ts"), JSON.stringify(config)], { cwd: root, stdio: "inherit" });
    bunMs = performance.now() - bunStarted;
    if (result.error) throw new BuildError(`cannot run bun: ${result.error.message}`);
    if (result.status !== 0 || !fs.existsSync(staged)) throw new BuildError(`bun build failed (exit ${result.status ?? result.signal})`);
    fs.renameSync(staged, outfile);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }

  const size = fs.statSync(outfile).size;
  const totalMs = performance.now() - started;
  const shown = path.relative(process.cwd(), outfile);
  console.log(
    `built ${shown.startsWith("..") ? outfile : shown}: strata ${buildInfo.version} (${buildInfo.commit}, ${buildInfo.target})\n` +
      `  size ${mib(size)} (${size} bytes), build time ${(totalMs / 1000).toFixed(2)} s (bun ${(bunMs / 1000).toFixed(2)} s)`,
  );
}

try {
  main();
} catch (error) {
  if (!(error instanceof BuildError)) throw error;
  console.error(`build failed: ${error.message}`);
  process.exitCode = 1;
}
