/**
 * Checks, and where needed replaces, the code signature of a thin 64-bit Mach-O executable, as
 * macOS checks it at exec: every CodeDirectory's page hashes must match the file's pages.
 *
 * Why: Bun 1.4's darwin-x64 `--compile` output keeps the Bun runtime's own Developer ID signature
 * (hardened runtime, CMS blob) after appending strata in a __BUN segment, so 75 of its 23,797 page
 * hashes are stale and the pages after the old code limit are not covered at all; macOS refuses
 * it. (darwin-arm64 output is re-signed ad hoc by Bun and verifies.) No signing tool (codesign,
 * rcodesign, ldid) installs here, and an ad-hoc signature carries no certificate, so the build
 * writes one itself: the same form the linker and Bun's arm64 output use — one SHA-256
 * CodeDirectory over every page up to the signature, flags "adhoc", no special slots — and
 * grows __LINKEDIT and LC_CODE_SIGNATURE to fit. An identity signature is gone afterwards (it
 * was broken anyway); sign with `codesign --force --sign <identity>` to ship one.
 *
 * Format (signature fields big-endian; see Apple's cs_blobs.h): LC_CODE_SIGNATURE points at a
 * SuperBlob (0xfade0cc0) whose index lists blobs; a CodeDirectory (0xfade0c02) holds nCodeSlots
 * hashes of pageSize-byte pages of the file up to codeLimit, at hashOffset.
 */
import { createHash } from "node:crypto";

const MH_MAGIC_64 = 0xfeedfacf;
const LC_CODE_SIGNATURE = 0x1d;
const LC_SEGMENT_64 = 0x19;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSMAGIC_BLOBWRAPPER = 0xfade0b01;
const CS_ADHOC = 0x2;
const HASHES: Record<number, string> = { 1: "sha1", 2: "sha256" };

export interface CodeDirectory {
  /** Offset of the CodeDirectory blob in the file. */
  offset: number;
  hash: string;
  pageSize: number;
  codeLimit: number;
  /** Offset of slot 0 in the file. */
  hashesAt: number;
  nCodeSlots: number;
  hashSize: number;
  adhoc: boolean;
}

export interface Signature {
  cpu: "x86_64" | "arm64" | "other";
  directories: CodeDirectory[];
  /** A CMS blob with content: signed with an identity, so not ours to touch. */
  hasCms: boolean;
}

function fail(message: string): never {
  throw new Error(`Mach-O signature: ${message}`);
}

/** The signature's CodeDirectories, read from a thin 64-bit little-endian Mach-O image. */
export function readSignature(file: Buffer): Signature {
  if (file.length < 32 || file.readUInt32LE(0) !== MH_MAGIC_64) fail("not a thin 64-bit Mach-O file");
  const cpuType = file.readUInt32LE(4);
  const cpu = cpuType === 0x01000007 ? "x86_64" : cpuType === 0x0100000c ? "arm64" : "other";
  const ncmds = file.readUInt32LE(16);
  let at = 32;
  let sig: { off: number; size: number } | undefined;
  for (let i = 0; i < ncmds; i++) {
    const cmd = file.readUInt32LE(at);
    const size = file.readUInt32LE(at + 4);
    if (cmd === LC_CODE_SIGNATURE) sig = { off: file.readUInt32LE(at + 8), size: file.readUInt32LE(at + 12) };
    at += size;
  }
  if (!sig) fail("no LC_CODE_SIGNATURE (unsigned)");
  if (sig.off + sig.size > file.length || file.readUInt32BE(sig.off) !== CSMAGIC_EMBEDDED_SIGNATURE) fail("no embedded signature SuperBlob");
  const count = file.readUInt32BE(sig.off + 8);
  const directories: CodeDirectory[] = [];
  let hasCms = false;
  for (let i = 0; i < count; i++) {
    const blob = sig.off + file.readUInt32BE(sig.off + 12 + i * 8 + 4);
    const magic = file.readUInt32BE(blob);
    if (magic === CSMAGIC_BLOBWRAPPER) hasCms ||= file.readUInt32BE(blob + 4) > 8;
    if (magic !== CSMAGIC_CODEDIRECTORY) continue;
    const hash = HASHES[file.readUInt8(blob + 37)] ?? fail(`hash type ${file.readUInt8(blob + 37)} unknown`);
    directories.push({
      offset: blob,
      hash,
      adhoc: (file.readUInt32BE(blob + 12) & CS_ADHOC) !== 0,
      hashesAt: blob + file.readUInt32BE(blob + 16),
      nCodeSlots: file.readUInt32BE(blob + 28),
      codeLimit: file.readUInt32BE(blob + 32),
      hashSize: file.readUInt8(blob + 36),
      pageSize: 2 ** file.readUInt8(blob + 39),
    });
  }
  if (directories.length === 0) fail("no CodeDirectory");
  return { cpu, directories, hasCms };
}

function pageHash(file: Buffer, cd: CodeDirectory, slot: number): Buffer {
  const start = slot * cd.pageSize;
  return createHash(cd.hash).update(file.subarray(start, Math.min(start + cd.pageSize, cd.codeLimit))).digest().subarray(0, cd.hashSize);
}

/** Page hashes that do not match, per CodeDirectory; all zero means macOS will accept the pages. */
export function staleHashes(file: Buffer): { hash: string; slots: number; stale: number }[] {
  return readSignature(file).directories.map((cd) => {
    let stale = 0;
    for (let slot = 0; slot < cd.nCodeSlots; slot++) {
      if (!pageHash(file, cd, slot).equals(file.subarray(cd.hashesAt + slot * cd.hashSize, cd.hashesAt + (slot + 1) * cd.hashSize))) stale++;
    }
    return { hash: cd.hash, slots: cd.nCodeSlots, stale };
  });
}

/** Where the load commands say the signature and __TEXT/__LINKEDIT are. */
function layout(file: Buffer) {
  let at = 32;
  let sigCmd = -1;
  let linkedit = -1;
  let text: { off: number; size: number } | undefined;
  for (let i = 0; i < file.readUInt32LE(16); i++) {
    const cmd = file.readUInt32LE(at);
    if (cmd === LC_CODE_SIGNATURE) sigCmd = at;
    if (cmd === LC_SEGMENT_64) {
      const name = file.subarray(at + 8, at + 24).toString("latin1").replace(/\0+$/, "");
      if (name === "__LINKEDIT") linkedit = at;
      if (name === "__TEXT") text = { off: Number(file.readBigUInt64LE(at + 40)), size: Number(file.readBigUInt64LE(at + 48)) };
    }
    at += file.readUInt32LE(at + 4);
  }
  if (sigCmd < 0 || linkedit < 0 || !text) fail("no LC_CODE_SIGNATURE, __LINKEDIT or __TEXT");
  return { sigCmd, linkedit, text };
}

/** True when every page hash of every CodeDirectory matches (what the kernel checks). */
export function verifies(file: Buffer): boolean {
  return staleHashes(file).every((d) => d.stale === 0);
}

/**
 * `file` with a fresh ad-hoc signature, or `file` itself when its signature already verifies.
 * The signature must be the file's last bytes (as Bun and the linker write it).
 */
export function resignAdhoc(file: Buffer, identifier = "strata"): Buffer {
  if (verifies(file)) return file;
  const { sigCmd, linkedit, text } = layout(file);
  const sigOff = file.readUInt32LE(sigCmd + 8);
  if (sigOff + file.readUInt32LE(sigCmd + 12) !== file.length) fail("the signature is not at the end of the file");
  const linkeditOff = Number(file.readBigUInt64LE(linkedit + 40));
  if (linkeditOff + Number(file.readBigUInt64LE(linkedit + 48)) !== file.length) fail("__LINKEDIT does not end the file");

  const pageSize = 4096;
  const nCodeSlots = Math.ceil(sigOff / pageSize);
  const ident = Buffer.from(identifier + "\0", "latin1");
  const cdHeader = 88; // CodeDirectory version 0x20400, up to execSegFlags
  const hashOffset = cdHeader + ident.length;
  const cdLength = hashOffset + nCodeSlots * 32;
  const superLength = 12 + 8 + cdLength;
  const padded = Math.ceil(superLength / 16) * 16;

  const out = Buffer.alloc(sigOff + padded);
  file.copy(out, 0, 0, sigOff);
  // Load commands first: they are in page 0, which the CodeDirectory hashes.
  out.writeUInt32LE(padded, sigCmd + 12);
  const linkeditSize = out.length - linkeditOff;
  out.writeBigUInt64LE(BigInt(linkeditSize), linkedit + 48); // filesize
  out.writeBigUInt64LE(BigInt(Math.ceil(linkeditSize / pageSize) * pageSize), linkedit + 32); // vmsize

  let at = sigOff;
  out.writeUInt32BE(CSMAGIC_EMBEDDED_SIGNATURE, at);
  out.writeUInt32BE(superLength, at + 4);
  out.writeUInt32BE(1, at + 8); // one blob:
  out.writeUInt32BE(0, at + 12); // CSSLOT_CODEDIRECTORY
  out.writeUInt32BE(20, at + 16);
  at += 20;
  out.writeUInt32BE(CSMAGIC_CODEDIRECTORY, at);
  out.writeUInt32BE(cdLength, at + 4);
  out.writeUInt32BE(0x20400, at + 8);
  out.writeUInt32BE(CS_ADHOC, at + 12);
  out.writeUInt32BE(hashOffset, at + 16);
  out.writeUInt32BE(cdHeader, at + 20); // identOffset
  out.writeUInt32BE(0, at + 24); // nSpecialSlots
  out.writeUInt32BE(nCodeSlots, at + 28);
  out.writeUInt32BE(sigOff, at + 32); // codeLimit
  out.writeUInt8(32, at + 36); // hashSize
  out.writeUInt8(2, at + 37); // SHA-256
  out.writeUInt8(0, at + 38); // platform
  out.writeUInt8(12, at + 39); // log2(pageSize)
  // spare2, scatterOffset, teamOffset, spare3, codeLimit64: zero.
  out.writeBigUInt64BE(BigInt(text.off), at + 64); // execSegBase
  out.writeBigUInt64BE(BigInt(text.size), at + 72); // execSegLimit
  out.writeBigUInt64BE(1n, at + 80); // CS_EXECSEG_MAIN_BINARY
  ident.copy(out, at + cdHeader);
  for (let slot = 0; slot < nCodeSlots; slot++) {
    const start = slot * pageSize;
    createHash("sha256").update(out.subarray(start, Math.min(start + pageSize, sigOff))).digest().copy(out, at + hashOffset + slot * 32);
  }
  return out;
}
