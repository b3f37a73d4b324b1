/**
 * The Bun half of `npm run build`. build.ts (Node) works out the configuration and runs this file
 * with the project's own `node_modules/.bin/bun`, passing a JSON `BunBuildConfig` as the single
 * argument. Kept apart from build.ts because `Bun.build` (and build plugins, which the
 * `bun build --compile` CLI cannot load) only exist inside Bun.
 *
 * Not part of tsconfig.json: there are no Bun type definitions in this project, so the little of
 * the Bun API used here is declared by hand below.
 */

/** Must match what build.ts sends. */
interface BunBuildConfig {
  /** Absolute path of the entry point (normally src/main.ts). */
  entry: string;
  /** Absolute path of the executable to write. */
  outfile: string;
  /** Bun compile target, e.g. "bun-linux-arm64". */
  bunTarget: string;
  /** Absolute path of the libSQL native module (index.node) for that target. */
  nativeModule: string;
  /** Identifier -> JS expression, handed to the bundler's `define`. */
  define: Record<string, string>;
  bytecode: boolean;
}

// --- the slice of Bun's API this script uses ----------------------------------------------------
interface OnLoadArgs { path: string }
interface PluginBuilder {
  onLoad(
    options: { filter: RegExp },
    callback: (args: OnLoadArgs) => Promise<{ contents: string; loader: "js" }>,
  ): void;
}
interface BuildOutput { success: boolean; logs: unknown[]; outputs: { path: string }[] }
declare const Bun: {
  version: string;
  file(path: string): { text(): Promise<string> };
  build(config: Record<string, unknown>): Promise<BuildOutput>;
};
declare const process: { argv: string[]; exitCode?: number };
// -------------------------------------------------------------------------------------------------

const config = JSON.parse(process.argv[2] ?? "") as BunBuildConfig;

/**
 * libsql's loader (node_modules/libsql/index.js) picks its native module at run time: it probes
 * the platform and libc (reading /usr/bin/ldd, or spawning a shell to run getconf) and then calls
 * require(`@libsql/${target}`). A template-literal require is invisible to the bundler, so the
 * .node file would not be embedded and the binary would look for node_modules at run time.
 * We rewrite it to a static require of the exact file for the build target. That makes Bun embed
 * the .node file (extracted to $TMPDIR when the binary first loads it), and skips the probing,
 * which on minimal systems (no ldd) would otherwise cost a process spawn at every start.
 */
let nativeModulePinned = false;
const libsqlStaticNative = {
  name: "strata-libsql-static-native",
  setup(build: PluginBuilder) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, async ({ path }) => {
      const original = await Bun.file(path).text();
      const pinned = `require(${JSON.stringify(config.nativeModule)})`;
      // Two exact edits; if libsql ever changes this code, fail loudly rather than ship a binary
      // that cannot open a database.
      const edits: [string, string][] = [
        // Short-circuit the function before any detection runs...
        ["function requireNative() {", `function requireNative() {\n  return ${pinned}; // pinned by strata's build`],
        // ...and remove the dynamic require from the (now dead) remainder so nothing unresolved is left.
        ["require(`@libsql/${target}`)", pinned],
      ];
      let contents = original;
      for (const [from, to] of edits) {
        if (!contents.includes(from)) {
          throw new Error(`${path}: expected to find ${JSON.stringify(from)}; libsql's loader changed, update build.bun.ts`);
        }
        contents = contents.replace(from, () => to); // a function: `$` in paths is not a pattern
      }
      nativeModulePinned = true;
      return { contents, loader: "js" };
    });
  },
};

async function main(): Promise<void> {
  let result: BuildOutput;
  try {
    result = await Bun.build({
      entrypoints: [config.entry],
      target: "bun",
      // ESM keeps top-level await working; ESM bytecode is supported for compiled executables.
      format: "esm",
      compile: {
        target: config.bunTarget,
        outfile: config.outfile,
        // A migration tool runs inside other people's projects: a stray .env or bunfig.toml
        // there must not change its environment or runtime (the Node/Deno builds don't read them).
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
      plugins: [libsqlStaticNative],
      define: config.define,
      // Precompiled bytecode: measurably faster start (~20 ms -> ~13 ms), ~2 MB larger.
      bytecode: config.bytecode,
      // Keep identifiers: error messages and class names stay readable; renaming saves nothing
      // that matters next to the ~100 MB runtime.
      minify: { whitespace: true, syntax: true, identifiers: false },
      // Embedded in the executable, so stack traces point at src/*.ts lines.
      sourcemap: "linked",
    });
  } catch (error) {
    // Bun.build throws an AggregateError whose `errors` carry file:line messages.
    const errors = (error as { errors?: unknown[] }).errors ?? [error];
    for (const e of errors) console.error(String(e));
    process.exitCode = 1;
    return;
  }
  if (!result.success) {
    for (const log of result.logs) console.error(String(log));
    process.exitCode = 1;
    return;
  }
  for (const log of result.logs) console.warn(String(log));
  if (!nativeModulePinned) {
    console.warn("warning: libsql was not bundled (is @libsql/client imported?); no native module embedded");
  }
}

await main();
