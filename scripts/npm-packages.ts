/**
 * `npm run package [-- --dist dist] [--scope @strata]`: the npm packages, made from the release
 * binaries that `npm run release` wrote to dist/, packed as tarballs next to them; then
 * dist/SHA256SUMS is rewritten to cover every artefact there (binaries and tarballs).
 *
 * As dbmate and esbuild do it: one small package `strata` whose `bin` is a Node launcher
 * (npm/strata/bin/strata.js), and per release target a package holding only that target's
 * executable, with os/cpu/libc fields. The main package lists them all as optionalDependencies;
 * npm installs the one that fits the machine and skips the rest. No install script anywhere.
 *
 *   npm run release && npm run package
 *   npm publish dist/strata-linux-x64-0.1.0.tgz …   # the platform packages first, then strata-0.1.0.tgz
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** What npm matches a platform package against (`process.platform`, `process.arch`, libc). */
export const PLATFORMS: Record<string, { os: string; cpu: string; libc?: string; exe?: string }> = {
  "linux-x64": { os: "linux", cpu: "x64", libc: "glibc" },
  "linux-x64-musl": { os: "linux", cpu: "x64", libc: "musl" },
  "linux-arm64": { os: "linux", cpu: "arm64", libc: "glibc" },
  "linux-arm64-musl": { os: "linux", cpu: "arm64", libc: "musl" },
  "darwin-arm64": { os: "darwin", cpu: "arm64" },
  "darwin-x64": { os: "darwin", cpu: "x64" },
  "windows-x64": { os: "win32", cpu: "x64", exe: ".exe" },
};

export interface PackResult {
  /** Tarball paths, platform packages first, the main package last. */
  tarballs: string[];
  targets: string[];
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
}

/** Hard link where possible: the binaries are ~100 MiB each. */
function place(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
  fs.chmodSync(to, 0o755);
}

function npmPack(dir: string, dest: string): string {
  const r = spawnSync("npm", ["pack", "--json", "--pack-destination", dest], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm pack in ${dir} failed (exit ${r.status}):\n${r.stderr}`);
  const [packed] = JSON.parse(r.stdout) as { filename: string }[];
  return path.join(dest, packed!.filename);
}

/** `sha256sum -c` format over every file in `dist` but SHA256SUMS itself. */
export function writeSums(dist: string): string {
  const lines = fs
    .readdirSync(dist, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name !== "SHA256SUMS" && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort()
    .map((name) => `${createHash("sha256").update(fs.readFileSync(path.join(dist, name))).digest("hex")}  ${name}`);
  const file = path.join(dist, "SHA256SUMS");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

export function makePackages(dist: string, scope = "@strata"): PackResult {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string; description: string; license: string };
  const targets = Object.keys(PLATFORMS).filter((t) => fs.existsSync(path.join(dist, `strata-${t}${PLATFORMS[t]!.exe ?? ""}`)));
  if (targets.length === 0) throw new Error(`no release binaries (strata-<target>) in ${dist}: run npm run release first`);
  const staging = fs.mkdtempSync(path.join(dist, ".npm-"));
  const tarballs: string[] = [];
  try {
    for (const t of targets) {
      const p = PLATFORMS[t]!;
      const dir = path.join(staging, t);
      const exe = `strata${p.exe ?? ""}`;
      place(path.join(dist, `strata-${t}${p.exe ?? ""}`), path.join(dir, "bin", exe));
      writeJson(path.join(dir, "package.json"), {
        name: `${scope}/${t}`,
        version: manifest.version,
        description: `The ${t} executable of strata (installed by the strata package)`,
        license: manifest.license,
        os: [p.os],
        cpu: [p.cpu],
        ...(p.libc ? { libc: [p.libc] } : {}),
        files: [`bin/${exe}`],
        // Yarn PnP: keep the executable on disk.
        preferUnplugged: true,
      });
      fs.writeFileSync(path.join(dir, "README.md"), `# ${scope}/${t}\n\nThe ${t} executable of strata. Install \`strata\` instead: npm picks this package on ${t} machines.\n`);
      tarballs.push(npmPack(dir, dist));
    }
    const main = path.join(staging, "strata");
    fs.cpSync(path.join(root, "npm", "strata"), main, { recursive: true });
    writeJson(path.join(main, "package.json"), {
      name: "strata",
      version: manifest.version,
      description: manifest.description,
      license: manifest.license,
      bin: { strata: "bin/strata.js" },
      files: ["bin/strata.js"],
      engines: { node: ">=18" },
      optionalDependencies: Object.fromEntries(targets.map((t) => [`${scope}/${t}`, manifest.version])),
      // Read by the launcher.
      strata: { scope },
    });
    tarballs.push(npmPack(main, dist));
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  writeSums(dist);
  return { tarballs, targets };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { dist: { type: "string", default: "dist" }, scope: { type: "string", default: "@strata" } } });
  const dist = path.resolve(root, values.dist);
  const { tarballs } = makePackages(dist, values.scope);
  for (const t of tarballs) console.log(`packed ${path.relative(process.cwd(), t)}  ${(fs.statSync(t).size / 1024 / 1024).toFixed(1)} MiB`);
  console.log(`wrote ${path.relative(process.cwd(), path.join(dist, "SHA256SUMS"))} (${fs.readdirSync(dist).filter((f) => !f.startsWith(".") && f !== "SHA256SUMS").length} files)`);
}
