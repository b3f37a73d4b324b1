/**
 * sha256 for migration checksums. In the compiled binary (Bun) `node:crypto` costs ~5 ms to
 * load — a third of a no-op run — so Bun's native hasher is used there; elsewhere node:crypto,
 * loaded on first use.
 */
import { createRequire } from "node:module";

interface Hasher {
  update(data: Uint8Array | string): unknown;
  digest(encoding: "hex"): string;
}

type BunLike = { CryptoHasher: new (algorithm: string) => Hasher };

let makeHasher: (() => Hasher) | undefined;

function hasherFactory(): () => Hasher {
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (bun) return () => new bun.CryptoHasher("sha256");
  const { createHash } = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");
  return () => createHash("sha256") as unknown as Hasher;
}

/** Hex sha256 over the parts, in order. */
export function sha256Hex(...parts: (Uint8Array | string)[]): string {
  makeHasher ??= hasherFactory();
  const h = makeHasher();
  for (const p of parts) h.update(p);
  return h.digest("hex");
}
