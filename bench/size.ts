/**
 * Size workload (`npm run bench -- --only size`): what the linux-x64 executable is made of, next
 * to dbmate's Go binary. Builds the release form (no source map) and one without bytecode into
 * the bench's temp dir; reads the embedded part from the ELF `.bun` section Bun writes.
 *
 *   executable = Bun runtime + .bun section (JS bundle + bytecode + source map + libSQL module)
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { verdictCell, type Row, type Sample } from "./report.ts";

export interface SizeBenchContext {
  root: string;
  /** bin/strata: the default build (with source map). */
  strata: string;
  dbmate: string;
  tmp: (...parts: string[]) => string;
  progress: (text: string) => void;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Size of a named section of a 64-bit little-endian ELF file, or 0 when absent. */
export function elfSectionSize(file: string, name: string): number {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) throw new Error(`${file} is not a 64-bit ELF file`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const strtab = Number(b.readBigUInt64LE(shoff + b.readUInt16LE(0x3e) * shentsize + 24));
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    const start = strtab + b.readUInt32LE(h);
    if (b.toString("latin1", start, b.indexOf(0, start)) === name) return Number(b.readBigUInt64LE(h + 32));
  }
  return 0;
}

function build(root: string, outfile: string, extra: string[]): void {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "build.ts"), "--outfile", outfile, ...extra], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build ${extra.join(" ")} failed:\n${r.stdout}${r.stderr}`);
}

const gz = (file: string) => gzipSync(fs.readFileSync(file), { level: 9 }).length;

export async function sizeWorkload(ctx: SizeBenchContext): Promise<{ rows: Row[]; series: Record<string, Sample[]>; notes: string[] }> {
  const release = ctx.tmp("size", "strata-release");
  const noBytecode = ctx.tmp("size", "strata-no-bytecode");
  fs.mkdirSync(path.dirname(release), { recursive: true });
  ctx.progress("  building the release form (no source map) and one without bytecode…");
  build(ctx.root, release, ["--no-sourcemap"]);
  build(ctx.root, noBytecode, ["--no-sourcemap", "--no-bytecode"]);

  const size = (f: string) => fs.statSync(f).size;
  const runtime = fs.realpathSync(path.join(ctx.root, "node_modules", ".bin", "bun"));
  const native = path.join(ctx.root, "node_modules", "@libsql", "linux-x64-gnu", "index.node");
  const embedded = elfSectionSize(release, ".bun");
  const bytecode = embedded - elfSectionSize(noBytecode, ".bun");
  const sourcemap = elfSectionSize(ctx.strata, ".bun") - embedded;
  const bundle = embedded - bytecode - size(native);
  const total = size(release);
  const dbmate = size(ctx.dbmate);

  const row = (workload: string, strata: number, reference: number | undefined, note: string): Row => ({
    workload,
    strata: mib(strata),
    reference: reference === undefined ? "–" : mib(reference),
    ratio: reference === undefined ? "–" : `${(strata / reference).toFixed(2)}×`,
    strataPeak: "–",
    referencePeak: "–",
    target: "–",
    verdict: verdictCell("info", note),
  });
  const rows = [
    row("size: linux-x64 executable (release)", total, dbmate, "dbmate 2.36 Go binary as reference"),
    row("size: the same, gzip -9 (download)", gz(release), gz(ctx.dbmate), "npm and release downloads are compressed"),
    row("size: Bun runtime in it", size(runtime), undefined, `${((size(runtime) / total) * 100).toFixed(0)} % of the executable`),
    row("size: libSQL native module in it", size(native), undefined, "already stripped by its publisher"),
    row("size: bytecode in it", bytecode, undefined, "kept: faster start"),
    row("size: JS bundle in it (minified, names kept)", bundle, undefined, "strata, cmd-ts, zx, @libsql/client"),
    row("size: the rest", total - size(runtime) - embedded, undefined, "ELF layout around the .bun section"),
    row("size: source map (left out of release)", sourcemap, undefined, "npm run build keeps it for stack traces"),
  ];

  // strip(1): what it would save, and whether the result is still strata.
  const notes: string[] = [];
  const stripped = ctx.tmp("size", "strata-stripped");
  const strip = spawnSync("strip", ["-o", stripped, release], { encoding: "utf8" });
  if (strip.status === 0) {
    const v = spawnSync(stripped, ["--version"], { encoding: "utf8" });
    const still = v.status === 0 && v.stdout.startsWith("strata ");
    notes.push(`strip(1) would save ${((total - size(stripped)) / 1024).toFixed(0)} KiB (Bun's runtime carries few symbols) and the stripped file ${still ? "still runs strata" : `is no longer strata: \`--version\` prints ${JSON.stringify(v.stdout.trim() || v.stderr.trim())} (strip drops the embedded bundle), so the build does not strip`}.`);
  } else {
    notes.push("strip(1) is not installed: its effect was not measured.");
  }
  return { rows, series: {}, notes };
}
