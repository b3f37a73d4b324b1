/**
 * The byte-level pieces of backup and restore (src/backup/files.ts): the pipelined copy hashes
 * exactly the bytes it wrote, across chunk boundaries and from a held handle; it never replaces
 * an existing file; fsyncWhile returns the work's result and passes its failure on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { copyHashed, fsyncWhile, hashFile } from "../src/backup/files.ts";
import { tempDir } from "./support/cli.ts";

const MiB = 1 << 20;

test("copyHashed copies and hashes every byte, whatever the size relative to its chunks", async (t) => {
  const dir = tempDir(t);
  for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB, 3 * MiB + 12_345, 7 * MiB + 3]) {
    const src = path.join(dir, `src-${size}`);
    const bytes = randomBytes(size);
    fs.writeFileSync(src, bytes);
    const expected = createHash("sha256").update(bytes).digest("hex");
    const seen: number[] = [];
    const dest = path.join(dir, `dest-${size}`);
    const digest = await copyHashed(src, dest, (n) => seen.push(n));
    assert.deepEqual(digest, { sha256: expected, size }, `size ${size}`);
    assert.ok(fs.readFileSync(dest).equals(bytes), `the copy of ${size} bytes is byte-identical`);
    assert.equal(fs.statSync(dest).mode & 0o777, 0o600);
    // Progress only grows and ends at the size.
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(seen.at(-1) ?? 0, size);
    assert.deepEqual(await hashFile(dest), digest);
  }
});

test("copyHashed from a held handle, twice: each copy starts at the file's beginning", async (t) => {
  const dir = tempDir(t);
  const src = path.join(dir, "src");
  const bytes = randomBytes(2 * MiB + 99);
  fs.writeFileSync(src, bytes);
  const fh = await fs.promises.open(src, "r");
  t.after(() => fh.close());
  const a = await copyHashed(fh, path.join(dir, "a"), undefined, false);
  const b = await copyHashed(fh, path.join(dir, "b"));
  assert.deepEqual(a, b);
  assert.ok(fs.readFileSync(path.join(dir, "b")).equals(bytes));
});

test("copyHashed never replaces an existing file", async (t) => {
  const dir = tempDir(t);
  const src = path.join(dir, "src");
  const dest = path.join(dir, "dest");
  fs.writeFileSync(src, randomBytes(MiB + 5));
  fs.writeFileSync(dest, "keep me");
  await assert.rejects(copyHashed(src, dest), (e: NodeJS.ErrnoException) => e.code === "EEXIST");
  assert.equal(fs.readFileSync(dest, "utf8"), "keep me");
});

test("fsyncWhile returns the work's result, passes its error on, and needs the file to exist", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "f");
  fs.writeFileSync(file, "x");
  assert.equal(await fsyncWhile(file, async () => 42), 42);
  await assert.rejects(fsyncWhile(file, async () => { throw new Error("check failed"); }), /check failed/);
  let ran = false;
  await assert.rejects(fsyncWhile(path.join(dir, "missing"), async () => { ran = true; }), (e: NodeJS.ErrnoException) => e.code === "ENOENT");
  assert.equal(ran, false, "no work without a file to make durable");
});
