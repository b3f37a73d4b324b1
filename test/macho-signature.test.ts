/**
 * darwin-x64: macOS checks every page of an executable against its code signature. Bun's output
 * for that target fails (75 stale page hashes, pages after the runtime not covered); the release
 * build signs it ad hoc again (scripts/macho-codesign.ts). Checked here without a Mac:
 *
 * - the verifier agrees with Apple: the Bun runtime as Oven shipped it, signed with their
 *   Developer ID by Apple's codesign, verifies page for page;
 * - a release build of darwin-x64 is an x86_64 Mach-O whose ad-hoc signature covers every byte
 *   before it and verifies, embeds the darwin-x64 libSQL module, and carries no source map;
 * - one changed byte is found, and re-signing repairs it; a valid signature is left alone.
 *
 * Builds one target (~7 s; the first run fetches two packages with npm pack, as the release does).
 *
 *   node --import tsx --test test/macho-signature.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { repoRoot } from "./support/build.ts";
import { readSignature, resignAdhoc, staleHashes, verifies } from "../scripts/macho-codesign.ts";

const cache = path.join(process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache"), "strata-build");
const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
const pkgDir = (name: string) => path.join(cache, `${name.replace("/", "+")}@${lock.packages[`node_modules/${name}`]!.version}`);

describe("darwin-x64 code signature", () => {
  let scratch: string;
  let binary: Buffer;

  before(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "strata-macho-"));
    const out = path.join(scratch, "rel");
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "build.ts"), "--release", "--targets", "darwin-x64", "--outdir", out], { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    binary = fs.readFileSync(path.join(out, "strata-darwin-x64"));
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  test("the verifier accepts the Bun runtime as signed by Apple's codesign (Developer ID)", () => {
    const runtime = fs.readFileSync(path.join(pkgDir("@oven/bun-darwin-x64"), "bin", "bun"));
    const sig = readSignature(runtime);
    assert.equal(sig.hasCms, true, "an identity signature");
    assert.deepEqual(staleHashes(runtime).map((d) => d.stale), sig.directories.map(() => 0));
    // And it is what the release build leaves alone.
    assert.equal(resignAdhoc(runtime), runtime);
  });

  test("the release binary: x86_64, ad-hoc signature over every byte before it, verifies", () => {
    const sig = readSignature(binary);
    assert.equal(sig.cpu, "x86_64");
    assert.equal(sig.hasCms, false);
    assert.equal(sig.directories.length, 1);
    const cd = sig.directories[0]!;
    assert.equal(cd.adhoc, true);
    assert.equal(cd.hash, "sha256");
    // codeLimit is where the signature starts, and the signature ends the file.
    assert.ok(cd.offset > cd.codeLimit && cd.codeLimit > binary.length - 2_000_000);
    assert.equal(cd.nCodeSlots, Math.ceil(cd.codeLimit / cd.pageSize));
    assert.deepEqual(staleHashes(binary), [{ hash: "sha256", slots: cd.nCodeSlots, stale: 0 }]);
  });

  test("the release binary embeds darwin-x64's libSQL module and no source map", () => {
    const dir = pkgDir("@libsql/darwin-x64");
    const native = fs.readFileSync(path.join(dir, JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).main ?? "index.node"));
    const at = binary.indexOf(native.subarray(0, 64 * 1024));
    assert.ok(at > 0, "darwin-x64 index.node not embedded");
    assert.ok(binary.subarray(at, at + native.length).equals(native), "embedded module differs from the package's");
    // The source map lists src/ paths; the bundle itself does not.
    assert.equal(binary.includes("src/cli/run.ts"), false);
  });

  test("one changed byte makes a page stale; re-signing repairs it; a valid signature stays", () => {
    const copy = Buffer.from(binary);
    copy[5 * 4096 + 17] ^= 0xff;
    assert.deepEqual(staleHashes(copy).map((d) => d.stale), [1]);
    assert.equal(verifies(copy), false);
    const repaired = resignAdhoc(copy);
    assert.equal(verifies(repaired), true);
    assert.equal(resignAdhoc(binary), binary);
  });
});
