/**
 * The one build entry: strata as a self-contained executable (Bun runtime + bundled strata + the
 * libSQL native module of the target), made with Bun.build's `compile`.
 *
 *   npm run build                                  # host target (linux-x64 here) -> bin/strata
 *   npm run build -- --target linux-arm64          # cross-compile -> bin/strata-linux-arm64
 *   npm run build -- --target linux-x64-musl --outfile /tmp/strata
 *   npm run build -- --entry /tmp/probe.ts         # compile another entry (build checks)
 *   npm run build -- --no-bytecode                 # skip precompiled bytecode
 *   npm run build -- --no-sourcemap                # no embedded source map (release builds never have one)
 *   npm run release                                # every release target -> dist/ + SHA256SUMS
 *   npm run release -- --targets linux-arm64,darwin-arm64 --outdir /tmp/rel
 *   npm run release -- --offline                   # fail instead of fetching a missing package
 *
 * Runs inside Bun (Bun.build and its plugins exist only there); started from Node (`tsx build.ts`)
 * it re-runs itself with the project's bun.
 *
 * Other targets need two packages each, both pinned with their integrity in package-lock.json
 * (as optional dependencies of `bun` and `libsql`, so `npm ci` installs only the host's): the Bun
 * runtime `@oven/bun-<os>-<arch>` and the libSQL module `@libsql/<os>-<arch>-<libc>`. A missing one
 * is fetched with `npm pack` (npm's cache first), checked against the lockfile's integrity and
 * unpacked into ~/.cache/strata-build; Bun gets the runtime as `executablePath`, so it never
 * downloads anything itself. Once cached, every build is offline.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { resignAdhoc } from "./scripts/macho-codesign.ts";

const root = path.dirname(fileURLToPath(import.meta.url));

// --- the slice of Bun's API this script uses (the project has no Bun type definitions) ---------
interface OnLoadArgs { path: string }
interface OnResolveArgs { path: string }
interface PluginBuilder {
  onLoad(options: { filter: RegExp; namespace?: string }, callback: (args: OnLoadArgs) => Promise<{ contents: string; loader: "js" }>): void;
  onResolve(options: { filter: RegExp }, callback: (args: OnResolveArgs) => { path: string; namespace: string }): void;
}
interface BuildOutput { success: boolean; logs: unknown[] }
interface BunApi {
  version: string;
  build(config: Record<string, unknown>): Promise<BuildOutput>;
}
const bunApi = (globalThis as { Bun?: BunApi }).Bun;
// -------------------------------------------------------------------------------------------------

interface Target {
  /** Bun's compile target. */
  bun: string;
  /** npm package with that Bun runtime (bin/bun or bin/bun.exe); none: Bun fetches it itself. */
  runtime?: string;
  /** The libsql package holding the native module built for the same OS, CPU and libc. */
  libsql: string;
  /** Executable suffix. */
  exe?: string;
}

/** Targets we can assemble from registry packages. Keys are what --target accepts. */
const TARGETS: Record<string, Target> = {
  "linux-x64": { bun: "bun-linux-x64", runtime: "@oven/bun-linux-x64", libsql: "@libsql/linux-x64-gnu" },
  // For x64 CPUs without AVX2 (pre-Haswell); same native module. Its runtime is not in the
  // lockfile (bun's package does not list it), so Bun downloads it on first use.
  "linux-x64-baseline": { bun: "bun-linux-x64-baseline", libsql: "@libsql/linux-x64-gnu" },
  "linux-x64-musl": { bun: "bun-linux-x64-musl", runtime: "@oven/bun-linux-x64-musl", libsql: "@libsql/linux-x64-musl" },
  "linux-arm64": { bun: "bun-linux-arm64", runtime: "@oven/bun-linux-aarch64", libsql: "@libsql/linux-arm64-gnu" },
  "linux-arm64-musl": { bun: "bun-linux-arm64-musl", runtime: "@oven/bun-linux-aarch64-musl", libsql: "@libsql/linux-arm64-musl" },
  "darwin-arm64": { bun: "bun-darwin-arm64", runtime: "@oven/bun-darwin-aarch64", libsql: "@libsql/darwin-arm64" },
  "darwin-x64": { bun: "bun-darwin-x64", runtime: "@oven/bun-darwin-x64", libsql: "@libsql/darwin-x64" },
  "windows-x64": { bun: "bun-windows-x64", runtime: "@oven/bun-windows-x64", libsql: "@libsql/win32-x64-msvc", exe: ".exe" },
};

/** What `npm run release` ships. */
const RELEASE_TARGETS = ["linux-x64", "linux-x64-musl", "linux-arm64", "linux-arm64-musl", "darwin-arm64", "darwin-x64", "windows-x64"];

class BuildError extends Error {}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

/** Host target name, e.g. "linux-x64" or "linux-x64-musl" (no glibc version reported on musl). */
function hostTarget(): string {
  let libc = "";
  if (process.platform === "linux") {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    if (!report.header?.glibcVersionRuntime) libc = "-musl";
  }
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `${os}-${process.arch}${libc}`;
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

function cacheRoot(): string {
  const base = process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache");
  return path.join(base, "strata-build");
}

/**
 * Directory of package `name` at the version package-lock.json pins: node_modules when npm
 * installed it (the host's), else the build cache, else fetched with `npm pack` and checked
 * against the lockfile's integrity. `offline`: never fetch.
 */
function packageDir(name: string, offline: boolean): string {
  const lock = readJson<{ packages?: Record<string, { version?: string; integrity?: string }> }>(path.join(root, "package-lock.json"));
  const entry = lock.packages?.[`node_modules/${name}`];
  if (!entry?.version || !entry.integrity) throw new BuildError(`package-lock.json pins no version and integrity for ${name}`);
  const { version, integrity } = entry;
  const complete = (dir: string): boolean => {
    const manifest = path.join(dir, "package.json");
    return fs.existsSync(manifest) && readJson<{ version: string }>(manifest).version === version;
  };

  const installed = path.join(root, "node_modules", ...name.split("/"));
  if (complete(installed)) return installed;
  const cached = path.join(cacheRoot(), `${name.replace("/", "+")}@${version}`);
  if (complete(cached)) return cached;
  if (offline) throw new BuildError(`${name}@${version} is neither installed nor in ${cacheRoot()} (--offline)`);

  console.log(`fetching ${name}@${version} (npm pack)…`);
  fs.mkdirSync(cacheRoot(), { recursive: true });
  // Work in a scratch dir and rename at the end, so an interrupted fetch never looks cached.
  const scratch = fs.mkdtempSync(path.join(cacheRoot(), ".fetch-"));
  try {
    const packed = JSON.parse(run("npm", ["pack", `${name}@${version}`, "--json", "--prefer-offline", "--pack-destination", scratch], scratch)) as
      { filename: string }[];
    const tarball = path.join(scratch, packed[0]!.filename);
    const actual = `sha512-${createHash("sha512").update(fs.readFileSync(tarball)).digest("base64")}`;
    if (actual !== integrity) throw new BuildError(`${name}@${version}: integrity mismatch (lockfile ${integrity}, fetched ${actual})`);
    run("tar", ["-xzf", tarball, "-C", scratch], scratch); // npm tarballs unpack into package/
    fs.rmSync(cached, { recursive: true, force: true });
    fs.renameSync(path.join(scratch, "package"), cached);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return cached;
}

/**
 * The libSQL native module for the target, at exactly the version the bundled `libsql` package
 * expects (a mismatched native module fails at run time, not at build time).
 */
function nativeModuleFor(target: Target, offline: boolean): string {
  const libsqlJson = path.join(root, "node_modules", "libsql", "package.json");
  if (!fs.existsSync(libsqlJson)) throw new BuildError("node_modules/libsql is missing: run npm ci");
  const wanted = readJson<{ optionalDependencies?: Record<string, string> }>(libsqlJson).optionalDependencies?.[target.libsql];
  if (!wanted) throw new BuildError(`libsql has no native package ${target.libsql}`);
  const dir = packageDir(target.libsql, offline);
  const pkg = readJson<{ version: string; main?: string }>(path.join(dir, "package.json"));
  if (pkg.version !== wanted) throw new BuildError(`${target.libsql} is ${pkg.version}; libsql wants ${wanted}`);
  const file = path.join(dir, pkg.main ?? "index.node");
  if (!fs.existsSync(file)) throw new BuildError(`${target.libsql}@${pkg.version} has no native module`);
  return file;
}

/** The Bun runtime for the target; undefined: the running bun itself (same target and version). */
function runtimeFor(targetName: string, target: Target, offline: boolean): string | undefined {
  if (targetName === hostTarget() || !target.runtime) return undefined;
  const dir = packageDir(target.runtime, offline);
  const pkg = readJson<{ version: string }>(path.join(dir, "package.json"));
  if (pkg.version !== bunApi!.version) throw new BuildError(`${target.runtime} is ${pkg.version} but the build runs bun ${bunApi!.version}`);
  return path.join(dir, "bin", target.exe === ".exe" ? "bun.exe" : "bun");
}

const NATIVE_ID = "strata-embedded:libsql-native";

/**
 * libsql's loader (node_modules/libsql/index.js) picks its native module at run time: it probes
 * the platform and libc (reading /usr/bin/ldd, or spawning a shell to run getconf) and then calls
 * require(`@libsql/${target}`). A template-literal require is invisible to the bundler, so the
 * .node file would not be embedded. We rewrite it to require a generated module that embeds the
 * target's file (`type: "file"`) and hands it to src/db/native-module.ts, which copies it to a
 * directory that allows dlopen (not only $TMPDIR: see there). That also skips the probing, which
 * on minimal systems (no ldd) would cost a process spawn at every start.
 */
function libsqlPlugin(nativeModule: string, pinned: { done: boolean }) {
  const digest = createHash("sha256").update(fs.readFileSync(nativeModule)).digest("hex").slice(0, 16);
  const loader = path.join(root, "src", "db", "native-module.ts");
  return {
    name: "strata-libsql-embedded-native",
    setup(build: PluginBuilder) {
      build.onResolve({ filter: /^strata-embedded:libsql-native$/ }, () => ({ path: NATIVE_ID, namespace: "strata-embedded" }));
      build.onLoad({ filter: /.*/, namespace: "strata-embedded" }, async () => ({
        contents: [
          `import file from ${JSON.stringify(nativeModule)} with { type: "file" };`,
          `import { loadEmbeddedNative } from ${JSON.stringify(loader)};`,
          `export default loadEmbeddedNative(file, ${JSON.stringify(`libsql-${digest}.node`)});`,
        ].join("\n"),
        loader: "js",
      }));
      build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, async ({ path: file }) => {
        const call = `require(${JSON.stringify(NATIVE_ID)}).default`;
        // Two exact edits; if libsql ever changes this code, fail loudly rather than ship a binary
        // that cannot open a database.
        const edits: [string, string][] = [
          // Short-circuit the function before any detection runs...
          ["function requireNative() {", `function requireNative() {\n  return ${call}; // pinned by strata's build`],
          // ...and remove the dynamic require from the (now dead) remainder so nothing unresolved is left.
          ["require(`@libsql/${target}`)", call],
        ];
        let contents = fs.readFileSync(file, "utf8");
        for (const [from, to] of edits) {
          if (!contents.includes(from)) throw new Error(`${file}: expected ${JSON.stringify(from)}; libsql's loader changed, update build.ts`);
          contents = contents.replace(from, () => to); // a function: `$` in paths is not a pattern
        }
        pinned.done = true;
        return { contents, loader: "js" };
      });
    },
  };
}

interface BuildRequest {
  targetName: string;
  outfile: string;
  entry: string;
  bytecode: boolean;
  /** Embed a source map (stack traces point at src/*.ts); release builds leave it out. */
  sourcemap: boolean;
  offline: boolean;
}

/** Builds one executable; returns its path and the build time in ms. */
async function buildOne(req: BuildRequest): Promise<{ outfile: string; ms: number; info: Record<string, string> }> {
  const started = performance.now();
  const target = TARGETS[req.targetName];
  if (!target) throw new BuildError(`unsupported target "${req.targetName}"; choose one of: ${Object.keys(TARGETS).join(", ")}`);
  const pkg = readJson<{ version: string }>(path.join(root, "package.json"));
  const info = { version: pkg.version, commit: gitCommit(), target: target.bun, builtAt: buildDate() };
  const nativeModule = nativeModuleFor(target, req.offline);
  const executablePath = runtimeFor(req.targetName, target, req.offline);

  // Bun writes into a private staging dir next to the destination; the finished executable is
  // then renamed into place, so a failed build never leaves a truncated file and a reader (e.g.
  // the tests) never sees a half-written one. The staging dir also catches the .map file Bun
  // writes beside the executable (the source map itself is embedded).
  fs.mkdirSync(path.dirname(req.outfile), { recursive: true });
  const staging = fs.mkdtempSync(path.join(path.dirname(req.outfile), ".strata-build-"));
  try {
    const staged = path.join(staging, "strata" + (target.exe ?? ""));
    const pinned = { done: false };
    let result: BuildOutput;
    try {
      result = await bunApi!.build({
        entrypoints: [req.entry],
        target: "bun",
        // ESM keeps top-level await working; ESM bytecode is supported for compiled executables.
        format: "esm",
        // Lazily imported modules become chunks loaded on first use: without it Bun hoists every
        // module's imports (node:tty, node:crypto, node:readline, …) to start-up (issue 14).
        splitting: true,
        compile: {
          target: target.bun,
          outfile: staged,
          ...(executablePath ? { executablePath } : {}),
          // A migration tool runs inside other people's projects: a stray .env or bunfig.toml
          // there must not change its environment or runtime (the Node/Deno builds don't read them).
          autoloadDotenv: false,
          autoloadBunfig: false,
        },
        plugins: [libsqlPlugin(nativeModule, pinned)],
        define: { __STRATA_BUILD_INFO__: JSON.stringify(info) },
        // Precompiled bytecode: measurably faster start (~20 ms -> ~13 ms), ~2 MB larger.
        bytecode: req.bytecode,
        // Keep identifiers: error messages and class names stay readable; renaming saves nothing
        // that matters next to the ~100 MB runtime.
        minify: { whitespace: true, syntax: true, identifiers: false },
        // Embedded in the executable, so stack traces point at src/*.ts lines; ~1 MB.
        sourcemap: req.sourcemap ? "linked" : "none",
      });
    } catch (error) {
      // Bun.build throws an AggregateError whose `errors` carry file:line messages.
      const errors = (error as { errors?: unknown[] }).errors ?? [error];
      throw new BuildError(`bun build failed:\n${errors.map(String).join("\n")}`);
    }
    if (!result.success) throw new BuildError(`bun build failed:\n${result.logs.map(String).join("\n")}`);
    for (const log of result.logs) console.warn(String(log));
    if (!pinned.done) console.warn("warning: libsql was not bundled (is @libsql/client imported?); no native module embedded");
    if (!fs.existsSync(staged)) throw new BuildError(`bun build wrote no ${path.basename(staged)}`);
    if (target.bun.startsWith("bun-darwin-")) {
      // Bun's darwin-x64 output keeps a stale signature macOS refuses: see scripts/macho-codesign.ts.
      const built = fs.readFileSync(staged);
      const signed = resignAdhoc(built);
      if (signed !== built) {
        fs.writeFileSync(staged, signed);
        console.log(`  ${req.targetName}: Bun's code signature did not verify; signed ad hoc`);
      }
    }
    fs.renameSync(staged, req.outfile);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return { outfile: req.outfile, ms: performance.now() - started, info };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      outfile: { type: "string" },
      entry: { type: "string", default: "src/main.ts" },
      "no-bytecode": { type: "boolean", default: false },
      "no-sourcemap": { type: "boolean", default: false },
      release: { type: "boolean", default: false },
      targets: { type: "string" },
      outdir: { type: "string", default: "dist" },
      offline: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      `usage: npm run build -- [--target <${Object.keys(TARGETS).join("|")}>] [--outfile <path>] [--entry <file>] [--no-bytecode] [--no-sourcemap] [--offline]\n` +
        `       npm run release -- [--targets <a,b,…>] [--outdir dist] [--offline]   (default targets: ${RELEASE_TARGETS.join(", ")})`,
    );
    return;
  }
  const entry = path.resolve(root, values.entry);
  if (!fs.existsSync(entry)) throw new BuildError(`entry point ${path.relative(root, entry) || entry} does not exist`);
  // Release binaries ship without the source map (users get messages, not our stack traces).
  const common = { entry, bytecode: !values["no-bytecode"], sourcemap: !values.release && !values["no-sourcemap"], offline: values.offline };

  if (!values.release) {
    const host = hostTarget();
    const targetName = (values.target ?? host).replace(/^bun-/, "");
    const exe = TARGETS[targetName]?.exe ?? "";
    // bin/strata is the host's binary (what package.json "bin" and the tests use); others get a suffix.
    const outfile = path.resolve(values.outfile ?? path.join(root, "bin", targetName === host ? "strata" : `strata-${targetName}${exe}`));
    const built = await buildOne({ ...common, targetName, outfile });
    const size = fs.statSync(outfile).size;
    console.log(
      `built ${shown(outfile)}: strata ${built.info.version} (${built.info.commit}, ${built.info.target})\n` +
        `  size ${mib(size)} (${size} bytes), build time ${(built.ms / 1000).toFixed(2)} s`,
    );
    return;
  }

  const names = values.targets ? values.targets.split(",").map((t) => t.trim()).filter(Boolean) : RELEASE_TARGETS;
  for (const name of names) if (!TARGETS[name]) throw new BuildError(`unsupported target "${name}"; choose from: ${RELEASE_TARGETS.join(", ")}`);
  const outdir = path.resolve(root, values.outdir);
  fs.mkdirSync(outdir, { recursive: true });
  const sums: string[] = [];
  for (const name of names) {
    const file = path.join(outdir, `strata-${name}${TARGETS[name]!.exe ?? ""}`);
    const built = await buildOne({ ...common, targetName: name, outfile: file });
    const digest = sha256(file);
    sums.push(`${digest}  ${path.basename(file)}`);
    console.log(`built ${shown(file)}  ${mib(fs.statSync(file).size)}  ${(built.ms / 1000).toFixed(1)} s  sha256 ${digest.slice(0, 16)}…`);
  }
  // The format `sha256sum -c` reads.
  fs.writeFileSync(path.join(outdir, "SHA256SUMS"), sums.join("\n") + "\n");
  console.log(`wrote ${shown(path.join(outdir, "SHA256SUMS"))} (${names.length} files)`);
}

if (!bunApi) {
  // Started by Node (tsx build.ts): Bun.build exists only in Bun.
  const bun = path.join(root, "node_modules", ".bin", process.platform === "win32" ? "bun.exe" : "bun");
  if (!fs.existsSync(bun)) {
    console.error("build failed: node_modules/.bin/bun is missing: run npm ci");
    process.exitCode = 1;
  } else {
    const r = spawnSync(bun, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
    process.exitCode = r.status ?? 1;
  }
} else {
  try {
    await main();
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`build failed: ${error.message}`);
    process.exitCode = 1;
  }
}
