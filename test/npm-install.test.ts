/**
 * `npm i -g strata`, offline: the packages scripts/npm-packages.ts makes from a release directory
 * are packed with `npm pack`, installed from those tarballs into a scratch prefix, and the
 * installed `strata` runs `--version` and `up` on the calendar history; `npm exec` (npx) runs it
 * from the same tarballs. Only linux-x64 is
 * packed (the host's binary, bin/strata): one ~120 MiB package, about a minute on 2 busy cores.
 *
 *   node --import tsx --test test/npm-install.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { ensureBinary } from "./support/build.ts";
import { copyCalendar, openDb, runCommand, tempDir } from "./support/cli.ts";
import { makePackages } from "../scripts/npm-packages.ts";

const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
const isLinuxX64 = process.platform === "linux" && process.arch === "x64" && Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);

function npm(args: string[], cwd: string) {
  // An empty cache: nothing can come from an earlier install, and --offline forbids the network.
  const r = spawnSync("npm", [...args, "--offline", "--no-audit", "--no-fund", "--cache", path.join(cwd, ".npm-cache")], { cwd, encoding: "utf8", timeout: 240_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe("npm packages", { skip: isLinuxX64 ? false : "packs the host's linux-x64 (glibc) binary" }, () => {
  test("made from the release binary, packed, installed offline with npm i -g: strata --version and up work", async (t) => {
    const dir = tempDir(t, "strata-npm-");
    const dist = path.join(dir, "dist");
    fs.mkdirSync(dist);
    fs.copyFileSync(ensureBinary(), path.join(dist, "strata-linux-x64"));
    fs.chmodSync(path.join(dist, "strata-linux-x64"), 0o755);

    const { tarballs, targets } = makePackages(dist);
    assert.deepEqual(targets, ["linux-x64"]);
    assert.deepEqual(tarballs.map((f) => path.basename(f)), [`strata-linux-x64-${pkg.version}.tgz`, `strata-${pkg.version}.tgz`]);

    // Every artefact is in SHA256SUMS, and `sha256sum -c` accepts them.
    const sums = fs.readFileSync(path.join(dist, "SHA256SUMS"), "utf8");
    assert.deepEqual(sums.trim().split("\n").map((l) => l.split("  ")[1]).sort(), ["strata-linux-x64", ...tarballs.map((f) => path.basename(f))].sort());
    const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: dist, encoding: "utf8" });
    assert.equal(check.status, 0, check.stdout + check.stderr);

    // What the packages say about themselves (read back from the tarballs).
    const manifest = (tgz: string) => JSON.parse(spawnSync("tar", ["-xzOf", tgz, "package/package.json"], { encoding: "utf8" }).stdout);
    const platform = manifest(tarballs[0]!);
    assert.deepEqual([platform.name, platform.os, platform.cpu, platform.libc, platform.scripts], ["@strata/linux-x64", ["linux"], ["x64"], ["glibc"], undefined]);
    const main = manifest(tarballs[1]!);
    assert.deepEqual(main.optionalDependencies, { "@strata/linux-x64": pkg.version });
    assert.equal(main.scripts, undefined, "no install script");

    const prefix = path.join(dir, "prefix");
    const install = npm(["install", "--global", "--prefix", prefix, ...tarballs], dir);
    assert.equal(install.code, 0, install.out);
    const strata = path.join(prefix, "bin", "strata");

    const version = await runCommand(strata, ["--version"], { cwd: dir });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, new RegExp(`^strata ${pkg.version.replace(/\./g, "\\.")} \\(.*bun-linux-x64`));

    const project = path.join(dir, "app");
    copyCalendar(project);
    const up = await runCommand(strata, ["up", "--url", "calendar.db", "--json"], { cwd: project });
    assert.equal(up.code, 0, up.stderr);
    // One row per migration: SQL pairs and TS modules alike.
    const files = [...new Set(fs.readdirSync(path.join(project, "migrations")).filter((f) => /^\d+_.*\.(up\.sql|ts)$/.test(f)).map((f) => f.split("_")[0]!))];
    const db = openDb(t, path.join(project, "calendar.db"));
    const rows = await db.execute("SELECT version FROM strata_migrations ORDER BY version");
    assert.deepEqual(rows.rows.map((r) => String(r["version"])), files.sort());

    // The binary's exit code comes back through the launcher.
    const usage = await runCommand(strata, ["up", "--no-such-flag"], { cwd: project });
    assert.equal(usage.code, 2, usage.stderr);

    // npx: the same two packages, fetched into npm's cache instead of a prefix.
    const npx = npm(["exec", "--yes", ...tarballs.map((f) => `--package=${f}`), "--", "strata", "--version"], dir);
    assert.equal(npx.code, 0, npx.out);
    assert.match(npx.out, new RegExp(`strata ${pkg.version.replace(/\./g, "\\.")} \\(`));

    // Without its platform package (e.g. installed with --omit=optional) the launcher says so.
    fs.rmSync(path.join(prefix, "lib", "node_modules", "@strata"), { recursive: true });
    const missing = await runCommand(strata, ["--version"], { cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /@strata\/linux-x64 is not installed/);
  });

  test("a platform package installs only where its os/cpu fit; the launcher names the supported platforms elsewhere", async (t) => {
    const dir = tempDir(t, "strata-npm-");
    const dist = path.join(dir, "dist");
    fs.mkdirSync(dist);
    // Small stand-ins: this test is about the manifests, not the executables.
    fs.writeFileSync(path.join(dist, "strata-darwin-arm64"), "#!/bin/sh\necho darwin\n");
    fs.writeFileSync(path.join(dist, "strata-linux-x64"), "#!/bin/sh\necho linux-x64 \"$@\"\n", { mode: 0o755 });
    const { tarballs } = makePackages(dist);
    const darwin = tarballs.find((f) => path.basename(f).startsWith("strata-darwin-arm64-"))!;
    const refused = npm(["install", "--global", "--prefix", path.join(dir, "p1"), darwin], dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /EBADPLATFORM/);

    const main = tarballs.at(-1)!;
    const linux = tarballs.find((f) => path.basename(f).startsWith("strata-linux-x64-"))!;
    const prefix = path.join(dir, "p2");
    assert.equal(npm(["install", "--global", "--prefix", prefix, main, linux], dir).code, 0);
    const strata = path.join(prefix, "bin", "strata");
    const ran = await runCommand(strata, ["status", "--json"], { cwd: dir });
    assert.equal(ran.stdout.trim(), "linux-x64 status --json", ran.stderr);

    // On a machine without a prebuilt binary (FreeBSD here, by telling Node so).
    const fake = path.join(dir, "freebsd.cjs");
    fs.writeFileSync(fake, 'Object.defineProperty(process, "platform", { value: "freebsd" });\n');
    const launcher = fs.realpathSync(strata);
    const other = await runCommand(process.execPath, ["--require", fake, launcher, "--version"], { cwd: dir });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /no prebuilt binary for freebsd-x64 \(prebuilt: linux-x64, darwin-arm64\)/);
  });
});
