/**
 * `npm run release`, checked on what this machine can run: the linux-arm64 binary under
 * qemu-user with Debian's arm64 C library, the linux-x64-musl binary with Debian's musl loader
 * (each applies the calendar history and is compared with a run from source), and for darwin and
 * windows the executable format and that the embedded libSQL module is the target's own.
 * Smokes skip with a reason when their packages are missing (.ci/run installs them).
 *
 * Only the targets checked here are built, once per set of build inputs: the binaries are kept in
 * ~/.cache/strata-build/release-test/<digest> so a re-run of the same tree (CI after the session)
 * does not build again.
 *
 *   node --import tsx --test test/release.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { createClient } from "@libsql/client";
import { repoRoot } from "./support/build.ts";
import { readSignature, staleHashes } from "../scripts/macho-codesign.ts";

const bun = path.join(repoRoot, "node_modules", ".bin", "bun");
const buildCache = path.join(process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache"), "strata-build");
const migrations = path.join(repoRoot, "migrations");

const ARM64_LIBC = "/usr/aarch64-linux-gnu";
const MUSL_LOADER = "/lib/ld-musl-x86_64.so.1";

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
}

const arm64Skip = !which("qemu-aarch64")
  ? "qemu-aarch64 is missing (apt-get install qemu-user)"
  : !fs.existsSync(path.join(ARM64_LIBC, "lib", "ld-linux-aarch64.so.1")) || !fs.existsSync(path.join(ARM64_LIBC, "lib", "libgcc_s.so.1"))
    ? "the arm64 C library is missing (apt-get install libc6-arm64-cross libgcc-s1-arm64-cross)"
    : undefined;
const muslSkip = !fs.existsSync(MUSL_LOADER)
  ? "Debian's musl loader is missing (apt-get install musl)"
  : !which("gcc")
    ? "gcc is missing (needed for the glibc-compat shim of the musl smoke)"
    : undefined;

/** Digest of everything a release binary is built from. */
function inputsDigest(): string {
  const hash = createHash("sha256");
  const files = ["package.json", "package-lock.json", "build.ts"].map((f) => path.join(repoRoot, f));
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(path.join(repoRoot, "src"));
  for (const f of files) hash.update(path.relative(repoRoot, f)).update("\0").update(fs.readFileSync(f)).update("\0");
  return hash.digest("hex").slice(0, 20);
}

/** Builds `targets` with `npm run release` (what it runs) unless this tree's build is cached. */
function release(targets: string[]): string {
  const key = `${inputsDigest()}-${createHash("sha256").update(targets.join(",")).digest("hex").slice(0, 8)}`;
  const parent = path.join(buildCache, "release-test");
  const outdir = path.join(parent, key);
  if (fs.existsSync(path.join(outdir, "SHA256SUMS"))) return outdir;
  fs.mkdirSync(parent, { recursive: true });
  const staging = fs.mkdtempSync(path.join(parent, ".build-"));
  try {
    const r = spawnSync(bun, [path.join(repoRoot, "build.ts"), "--release", "--targets", targets.join(","), "--outdir", staging], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 600_000, // a first run fetches two ~50 MB packages per target
      killSignal: "SIGKILL",
    });
    assert.equal(r.status, 0, `npm run release failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}${r.stderr}`);
    // Keep only this tree's binaries: each set is ~500 MB.
    for (const old of fs.readdirSync(parent)) if (!old.startsWith(".")) fs.rmSync(path.join(parent, old), { recursive: true, force: true });
    fs.renameSync(staging, outdir);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return outdir;
}

/** The libSQL native module package build.ts embeds, as unpacked in node_modules or the build cache. */
function nativeModule(pkg: string): Buffer {
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
  const version = lock.packages[`node_modules/${pkg}`]!.version;
  for (const dir of [path.join(repoRoot, "node_modules", ...pkg.split("/")), path.join(buildCache, `${pkg.replace("/", "+")}@${version}`)]) {
    const file = path.join(dir, "index.node");
    if (fs.existsSync(file)) return fs.readFileSync(file);
  }
  throw new Error(`${pkg}@${version} not found (the release build should have fetched it)`);
}

interface Run { code: number | null; stdout: string; stderr: string }

function runIn(dir: string, command: string, args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(command, args, {
    cwd: dir,
    env: { PATH: "/usr/bin:/bin", HOME: dir, TMPDIR: dir, ...env },
    encoding: "utf8",
    timeout: 180_000, // qemu-user emulates every instruction
    killSignal: "SIGKILL",
  });
  if (r.error) throw new Error(`${command} ${args.join(" ")}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What applying the calendar history leaves: the schema and the recorded versions. */
async function outcome(db: string): Promise<{ schema: string[]; versions: string[] }> {
  const client = createClient({ url: `file:${db}` });
  try {
    const schema = await client.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
    const versions = await client.execute("SELECT version FROM strata_migrations WHERE state = 'applied' ORDER BY version");
    return { schema: schema.rows.map((r) => `${String(r[0])} ${String(r[1])}: ${String(r[2])}`), versions: versions.rows.map((r) => String(r[0])) };
  } finally {
    client.close();
  }
}

/**
 * Bun's musl runtime needs a musl libstdc++ (Alpine's), which Debian does not package. Debian's
 * own libstdc++/libgcc_s load under musl's loader (it ignores symbol versions) once these few
 * glibc-only symbols exist; Bun, the embedded libsql module and libc itself stay musl's.
 */
const GLIBC_COMPAT = `
#include <stddef.h>
#include <stdint.h>
struct tm;
char __libc_single_threaded = 0;
extern int getentropy(void *, size_t);
uint32_t arc4random(void) { uint32_t v = 0; getentropy(&v, sizeof v); return v; }
extern size_t strftime_l(char *, size_t, const char *, const struct tm *, void *);
size_t __strftime_l(char *s, size_t n, const char *f, const struct tm *t, void *l) { return strftime_l(s, n, f, t, l); }
extern int __cxa_atexit(void (*)(void *), void *, void *);
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) { return __cxa_atexit(dtor, obj, dso); }
int _dl_find_object(void *pc, void *result) { return -1; }
struct { unsigned vendor, type, subtype, features[1]; } __cpu_model;
int __cpu_indicator_init(void) { return 0; }
`;

function muslLibDir(scratch: string): string {
  const dir = path.join(scratch, "musl-lib");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "compat.c"), GLIBC_COMPAT);
  // Named after the glibc loader, which Debian's libstdc++ lists as NEEDED.
  const cc = spawnSync("gcc", ["-shared", "-fPIC", "-nostdlib", "-O2", "-Wl,-soname,ld-linux-x86-64.so.2", "-o", path.join(dir, "ld-linux-x86-64.so.2"), path.join(dir, "compat.c")], { encoding: "utf8" });
  assert.equal(cc.status, 0, cc.stderr);
  for (const lib of ["libstdc++.so.6", "libgcc_s.so.1"]) fs.symlinkSync(path.join("/lib/x86_64-linux-gnu", lib), path.join(dir, lib));
  return dir;
}

/** ELF e_machine, Mach-O cputype or PE machine of an executable or shared library. */
function format(bytes: Buffer): string {
  if (bytes.readUInt32BE(0) === 0x7f454c46) return `elf-${({ 0x3e: "x64", 0xb7: "arm64" } as Record<number, string>)[bytes.readUInt16LE(18)] ?? "?"}`;
  if (bytes.readUInt32LE(0) === 0xfeedfacf) return `macho-${({ 0x01000007: "x64", 0x0100000c: "arm64" } as Record<number, string>)[bytes.readUInt32LE(4)] ?? "?"}`;
  if (bytes.toString("latin1", 0, 2) === "MZ") {
    const pe = bytes.readUInt32LE(0x3c);
    if (bytes.toString("latin1", pe, pe + 4) === "PE\0\0") return `pe-${bytes.readUInt16LE(pe + 4) === 0x8664 ? "x64" : "?"}`;
  }
  return "unknown";
}

const SMOKED = [...(arm64Skip ? [] : ["linux-arm64"]), ...(muslSkip ? [] : ["linux-x64-musl"])];
const INSPECTED: [target: string, file: string, format: string, libsql: string][] = [
  ["darwin-arm64", "strata-darwin-arm64", "macho-arm64", "@libsql/darwin-arm64"],
  ["darwin-x64", "strata-darwin-x64", "macho-x64", "@libsql/darwin-x64"],
  ["windows-x64", "strata-windows-x64.exe", "pe-x64", "@libsql/win32-x64-msvc"],
];

describe("npm run release", () => {
  let dist = "";
  let scratch = "";
  let reference: { schema: string[]; versions: string[] } | undefined;

  before(async () => {
    dist = release([...SMOKED, ...INSPECTED.map(([t]) => t)]);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "strata-release-test-"));
  });

  after(() => {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** A workspace with its own copy of migrations/. */
  function workspace(name: string): string {
    const dir = path.join(scratch, name);
    fs.cpSync(migrations, path.join(dir, "migrations"), { recursive: true });
    return dir;
  }

  /** The calendar history applied from source: what every binary must produce. */
  async function expected(): Promise<{ schema: string[]; versions: string[] }> {
    if (reference) return reference;
    const dir = workspace("reference");
    const r = runIn(dir, process.execPath, ["--import", import.meta.resolve("tsx"), path.join(repoRoot, "src", "main.ts"), "up", "--url", "file:ref.db", "--quiet"], { PATH: process.env["PATH"] ?? "/usr/bin:/bin" });
    assert.equal(r.code, 0, r.stderr);
    reference = await outcome(path.join(dir, "ref.db"));
    assert.ok(reference.versions.length > 0);
    return reference;
  }

  /** `up` with the target's binary through `prefix` (emulator or loader), then the checks. */
  async function smoke(target: string, prefix: string[], env: Record<string, string>, bunTarget: string): Promise<void> {
    const dir = workspace(target);
    const binary = path.join(dir, `strata-${target}`);
    fs.copyFileSync(path.join(dist, `strata-${target}`), binary);
    const [command, ...pre] = [...prefix, binary];
    const version = runIn(dir, command!, [...pre, "--version"], env);
    assert.equal(version.code, 0, version.stderr);
    assert.ok(version.stdout.includes(`${bunTarget},`), `--version does not name ${bunTarget}: ${version.stdout}`);

    const up = runIn(dir, command!, [...pre, "up", "--url", "file:app.db", "--quiet"], env);
    assert.equal(up.code, 0, `up with ${target}: exit ${up.code}\n${up.stdout}${up.stderr}`);
    assert.equal(up.stdout, "", "--quiet prints nothing on success");
    assert.deepEqual(await outcome(path.join(dir, "app.db")), await expected());
  }

  test("SHA256SUMS lists every built file; the README's verify and install steps work", () => {
    const lines = fs.readFileSync(path.join(dist, "SHA256SUMS"), "utf8").trimEnd().split("\n");
    const built = fs.readdirSync(dist).filter((f) => f.startsWith("strata-")).sort();
    assert.deepEqual(lines.map((l) => l.split("  ")[1]).sort(), built);
    for (const line of lines) assert.match(line, /^[0-9a-f]{64}  strata-[a-z0-9-]+(?:\.exe)?$/);

    // README "Install": one downloaded file next to SHA256SUMS, checked, then installed.
    const [digest, name] = lines.find((l) => l.endsWith("  strata-darwin-arm64"))!.split("  ") as [string, string];
    const download = path.join(scratch, "download");
    fs.mkdirSync(download);
    fs.copyFileSync(path.join(dist, "SHA256SUMS"), path.join(download, "SHA256SUMS"));
    fs.copyFileSync(path.join(dist, name), path.join(download, name));
    assert.equal(createHash("sha256").update(fs.readFileSync(path.join(download, name))).digest("hex"), digest);
    if (which("sha256sum")) {
      const verify = (): number | null => spawnSync("sha256sum", ["--ignore-missing", "-c", "SHA256SUMS"], { cwd: download }).status;
      assert.equal(verify(), 0, "sha256sum --ignore-missing -c SHA256SUMS refused an intact download");
      const fd = fs.openSync(path.join(download, name), "r+");
      const byte = Buffer.alloc(1);
      fs.readSync(fd, byte, 0, 1, 1000);
      fs.writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, 1000);
      fs.closeSync(fd);
      assert.notEqual(verify(), 0, "a corrupted download passed the checksum");
    }
    const installed = path.join(scratch, "usr-local-bin", "strata");
    fs.mkdirSync(path.dirname(installed));
    const install = spawnSync("install", ["-m", "0755", path.join(dist, name), installed], { encoding: "utf8" });
    assert.equal(install.status, 0, install.stderr);
    assert.equal(fs.statSync(installed).mode & 0o777, 0o755);
  });

  test("--offline refuses to fetch a package that is not cached, and writes nothing", () => {
    const emptyCache = fs.mkdtempSync(path.join(scratch, "cache-"));
    const out = path.join(scratch, "offline", "strata");
    const r = spawnSync(bun, [path.join(repoRoot, "build.ts"), "--target", "darwin-arm64", "--offline", "--outfile", out], {
      cwd: repoRoot,
      env: { ...process.env, XDG_CACHE_HOME: emptyCache },
      encoding: "utf8",
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /@libsql\/darwin-arm64@[\d.]+ is neither installed nor in .* \(--offline\)/);
    assert.ok(!fs.existsSync(out));
    assert.ok(!fs.existsSync(path.join(emptyCache, "strata-build")), "--offline started a fetch");
  });

  test("linux-arm64 under qemu-user applies the calendar history", { skip: arm64Skip }, async () => {
    await smoke("linux-arm64", ["qemu-aarch64", "-L", ARM64_LIBC], {}, "bun-linux-arm64");
  });

  test("linux-x64-musl with Debian's musl loader applies the calendar history", { skip: muslSkip }, async () => {
    // The interpreter named in the file is musl's; run through it explicitly all the same.
    const bytes = fs.readFileSync(path.join(dist, "strata-linux-x64-musl"));
    assert.ok(bytes.subarray(0, 4096).includes(MUSL_LOADER), "not linked against musl's loader");
    await smoke("linux-x64-musl", [MUSL_LOADER], { LD_LIBRARY_PATH: muslLibDir(scratch) }, "bun-linux-x64-musl");
  });

  // scripts/macho-codesign.ts; macOS refuses a binary with one stale page hash.
  test("darwin: every page matches the code signature (ad hoc, up to the signature); no source map", () => {
    for (const file of ["strata-darwin-arm64", "strata-darwin-x64"]) {
      const binary = fs.readFileSync(path.join(dist, file));
      const [cd, ...more] = readSignature(binary).directories;
      assert.deepEqual([cd!.adhoc, more.length], [true, 0], file);
      assert.equal(cd!.nCodeSlots, Math.ceil(cd!.codeLimit / cd!.pageSize));
      assert.ok(cd!.codeLimit > binary.length - 2_000_000, `${file}: the signature covers only ${cd!.codeLimit} bytes`);
      assert.deepEqual(staleHashes(binary).map((d) => d.stale), [0], file);
      // The source map lists src/ paths; the bundle itself does not.
      assert.equal(binary.includes("src/cli/run.ts"), false, `${file} embeds a source map`);
    }
  });

  for (const [target, file, expectedFormat, libsql] of INSPECTED) {
    test(`${target}: ${expectedFormat} executable embedding ${libsql}`, () => {
      const binary = fs.readFileSync(path.join(dist, file));
      assert.equal(format(binary), expectedFormat);
      const own = nativeModule(libsql);
      assert.equal(format(own), expectedFormat, `${libsql} is not a ${expectedFormat} library`);
      assert.ok(binary.includes(own), `${file} does not embed ${libsql}`);
      // And not the host's module by mistake.
      assert.ok(!binary.includes(nativeModule("@libsql/linux-x64-gnu").subarray(0, 1 << 20)), `${file} embeds the linux-x64 module`);
    });
  }
});
