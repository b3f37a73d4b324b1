/**
 * scripts/macho-codesign.ts, which the release build uses to sign darwin binaries ad hoc again
 * when Bun's signature does not verify (darwin-x64: 75 of 23,797 page hashes stale). Checked on
 * the Bun runtime Oven ships for darwin-x64 (the file Bun builds strata's binary from):
 *
 * - the verifier agrees with Apple: that file, signed with Oven's Developer ID by Apple's
 *   codesign, verifies page for page, and is left alone;
 * - one changed byte is found; re-signing gives an ad-hoc signature over every byte before it
 *   that verifies, in a file that is still the same Mach-O.
 *
 * That the release binaries themselves verify is checked in test/release.test.ts, which builds them.
 *
 *   node --import tsx --test test/macho-signature.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { repoRoot } from "./support/build.ts";
import { readSignature, resignAdhoc, staleHashes, verifies } from "../scripts/macho-codesign.ts";

const RUNTIME = "@oven/bun-darwin-x64";
const cache = path.join(process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache"), "strata-build");
const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
const pinned = lock.packages[`node_modules/${RUNTIME}`]!;

/** The runtime as build.ts caches it; fetched the same way (npm pack, lockfile integrity) if missing. */
function runtime(): Buffer {
  const dir = path.join(cache, `${RUNTIME.replace("/", "+")}@${pinned.version}`);
  const file = path.join(dir, "bin", "bun");
  if (!fs.existsSync(file)) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "strata-macho-"));
    try {
      const packed = spawnSync("npm", ["pack", `${RUNTIME}@${pinned.version}`, "--json", "--prefer-offline", "--pack-destination", scratch], { cwd: scratch, encoding: "utf8" });
      assert.equal(packed.status, 0, packed.stderr);
      const tgz = path.join(scratch, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
      assert.equal(spawnSync("tar", ["-xzf", tgz, "-C", scratch]).status, 0);
      return fs.readFileSync(path.join(scratch, "package", "bin", "bun"));
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  return fs.readFileSync(file);
}

describe("Mach-O code signature", () => {
  const bun = runtime();

  test("the verifier accepts Bun's darwin-x64 runtime as signed by Apple's codesign (Developer ID)", () => {
    const sig = readSignature(bun);
    assert.equal(sig.cpu, "x86_64");
    assert.equal(sig.hasCms, true, "an identity signature");
    assert.deepEqual(staleHashes(bun).map((d) => d.stale), sig.directories.map(() => 0));
    assert.equal(resignAdhoc(bun), bun, "a valid signature is left alone");
  });

  test("one changed byte makes a page stale; re-signing covers and verifies every page", () => {
    const copy = Buffer.from(bun);
    copy[5 * 4096 + 17] ^= 0xff;
    assert.deepEqual(staleHashes(copy).map((d) => d.stale), readSignature(bun).directories.map(() => 1));
    assert.equal(verifies(copy), false);

    const signed = resignAdhoc(copy);
    const sig = readSignature(signed);
    assert.equal(sig.cpu, "x86_64");
    assert.equal(sig.hasCms, false);
    assert.equal(sig.directories.length, 1);
    const cd = sig.directories[0]!;
    assert.deepEqual([cd.adhoc, cd.hash, cd.pageSize], [true, "sha256", 4096]);
    // The code limit is where the signature starts; the signature ends the file.
    assert.ok(cd.codeLimit < cd.offset && cd.hashesAt + cd.nCodeSlots * cd.hashSize <= signed.length);
    assert.equal(cd.nCodeSlots, Math.ceil(cd.codeLimit / cd.pageSize));
    assert.equal(verifies(signed), true);
    // Everything before the old signature is the same but the load commands' sizes.
    assert.ok(signed.subarray(4096, cd.codeLimit).equals(copy.subarray(4096, cd.codeLimit)));
  });
});
