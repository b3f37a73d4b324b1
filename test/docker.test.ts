/**
 * The Dockerfile, without docker (it cannot build here): what it copies exists and is sent by
 * .dockerignore, it runs strata as a numeric non-root user with the documented mount point, and
 * the binary it copies runs on the base image's C library: its glibc symbol versions and shared
 * libraries (the embedded libSQL module's too) are ones Debian 12's distroless "cc" provides.
 * Then the host binary (the linux-x64 release build) runs as that user the way the image does.
 *
 *   node --import tsx --test test/docker.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { ensureBinary, repoRoot } from "./support/build.ts";
import { copyCalendar, openDb, runCommand, tempDir } from "./support/cli.ts";

/** The base and what it provides (distroless: base = glibc; cc adds libgcc1, libstdc++6, libgomp1). */
const BASE = "gcr.io/distroless/cc-debian12:nonroot";
const BASE_GLIBC = [2, 36]; // Debian 12
const BASE_LIBS = new Set(["libc.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1", "libstdc++.so.6", "libgomp.so.1"]);
const NONROOT = 65532;

interface Instruction { op: string; args: string }

function dockerfile(): Instruction[] {
  const text = fs.readFileSync(path.join(repoRoot, "Dockerfile"), "utf8");
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(" ") };
    });
}

function only(ins: Instruction[], op: string): string {
  const found = ins.filter((i) => i.op === op);
  assert.equal(found.length, 1, `one ${op} expected, found ${found.length}`);
  return found[0]!.args;
}

/** Shared libraries an ELF file needs, and the newest GLIBC_x.y symbol version it asks for. */
function elfNeeds(file: string): { libs: string[]; glibc: number[] } {
  const dynamic = spawnSync("readelf", ["-d", file], { encoding: "utf8" });
  assert.equal(dynamic.status, 0, dynamic.stderr);
  const libs = [...dynamic.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
  const versions = spawnSync("readelf", ["-V", file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const glibc = [...versions.stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  glibc.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  return { libs, glibc: glibc.at(-1) ?? [0, 0] };
}

const readelf = spawnSync("readelf", ["--version"]).status === 0;

describe("Dockerfile", () => {
  const ins = dockerfile();

  test("base, copied binary, .dockerignore, mount point, user and entrypoint", () => {
    assert.equal(only(ins, "FROM"), BASE);
    const arg = /^STRATA_TARGET=(\S+)$/.exec(only(ins, "ARG"));
    assert.ok(arg, "ARG STRATA_TARGET=<default>");
    const [src, dest] = only(ins, "COPY").split(/\s+/);
    assert.equal(src, "dist/strata-${STRATA_TARGET}");
    assert.equal(dest, "/usr/local/bin/strata", "on distroless's PATH");

    // The default and the documented arm64 build name targets that `npm run release` writes.
    const build = fs.readFileSync(path.join(repoRoot, "build.ts"), "utf8");
    const release = JSON.parse(/const RELEASE_TARGETS = (\[[^\]]*\])/.exec(build)![1]!) as string[];
    for (const t of [arg[1]!, "linux-arm64"]) assert.ok(release.includes(t), `${t} is not a release target`);

    // The build context is exactly those binaries: everything ignored, they re-included.
    const ignore = fs.readFileSync(path.join(repoRoot, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(ignore, ["*", "!dist/strata-linux-x64", "!dist/strata-linux-arm64"]);

    assert.equal(only(ins, "ENV"), "STRATA_DIR=/migrations");
    const user = only(ins, "USER");
    assert.match(user, /^\d+:\d+$/, "numeric, so runAsNonRoot can check it");
    assert.ok(user.split(":").every((id) => Number(id) === NONROOT));
    assert.deepEqual(JSON.parse(only(ins, "ENTRYPOINT")), ["strata"], "exec form");
    assert.deepEqual(JSON.parse(only(ins, "CMD")), ["--help"]);
  });

  test("the glibc binary and its embedded libSQL module need nothing the base lacks", { skip: readelf ? false : "readelf is missing" }, () => {
    const native = path.join(repoRoot, "node_modules", "@libsql", "linux-x64-gnu", "index.node");
    for (const file of [ensureBinary(), native]) {
      const { libs, glibc } = elfNeeds(file);
      assert.ok(libs.includes("libc.so.6"), `${file} is not a glibc executable`);
      assert.deepEqual(libs.filter((l) => !BASE_LIBS.has(l)), [], `${path.basename(file)} needs libraries ${BASE} does not have`);
      assert.ok(glibc[0]! < BASE_GLIBC[0]! || (glibc[0] === BASE_GLIBC[0] && glibc[1]! <= BASE_GLIBC[1]!), `${file} needs GLIBC_${glibc.join(".")}`);
    }
  });

  test("as the image's user: read-only /migrations via STRATA_DIR, database in a volume, no TMPDIR", { skip: process.getuid?.() === 0 ? false : "needs root to run as uid 65532" }, async (t) => {
    const dir = tempDir(t, "strata-docker-");
    fs.chmodSync(dir, 0o755);
    const binary = path.join(dir, "strata");
    fs.copyFileSync(ensureBinary(), binary);
    fs.chmodSync(binary, 0o755);
    const migrations = copyCalendar(path.join(dir, "image"));
    // Mounted :ro — nothing for the user to write there.
    for (const f of fs.readdirSync(migrations)) fs.chmodSync(path.join(migrations, f), 0o444);
    fs.chmodSync(migrations, 0o555);
    const home = path.join(dir, "home");
    const data = path.join(dir, "data");
    for (const d of [home, data]) {
      fs.mkdirSync(d);
      fs.chownSync(d, NONROOT, NONROOT);
    }
    // The image's environment: no TMPDIR; HOME is the nonroot user's.
    const env = { PATH: `${dir}:/usr/bin:/bin`, HOME: home, STRATA_DIR: migrations };
    const up = spawnSync(binary, ["up", "--url", path.join(data, "calendar_app.db")], { cwd: home, env, uid: NONROOT, gid: NONROOT, encoding: "utf8", timeout: 60_000 });
    assert.equal(up.status, 0, up.stderr);
    const db = openDb(t, path.join(data, "calendar_app.db"));
    const rows = await db.execute("SELECT count(*) AS n FROM strata_migrations");
    const versions = new Set(fs.readdirSync(migrations).filter((f) => /^\d+_.*\.(up\.sql|ts)$/.test(f)).map((f) => f.split("_")[0]));
    assert.equal(Number(rows.rows[0]!["n"]), versions.size);
    assert.equal(fs.statSync(path.join(data, "calendar_app.db")).uid, NONROOT);
    // CMD ["--help"]: a bare `docker run strata` prints the overview.
    const help = await runCommand(binary, ["--help"], { cleanEnv: true, env });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: strata <command>/);
  });
});
