/**
 * A remote database for tests: a fresh namespace on the real sqld (test/support/sqld.ts), one
 * server per test file, started on first use and stopped after the file's tests. With
 * `proxy: true` (or a latency) strata talks to it through the counting proxy
 * (test/support/counting-proxy.ts), which counts round trips and injects faults.
 *
 *   const r = await remote(t, { proxy: true });  // r.url → proxy → sqld; r.client → sqld directly
 */
import { after } from "node:test";
import type { Client } from "@libsql/client";
import { startSqld, type Sqld } from "./sqld.ts";
import { startCountingProxy, type CountingProxy } from "./counting-proxy.ts";

export interface Remote {
  /** What strata is pointed at: the proxy's URL, or the namespace's http:// or ws:// URL. */
  url: string;
  token: string;
  /** A client for assertions, straight to sqld (never counted by the proxy). */
  client: Client;
  /** The namespace's own http:// URL on sqld. */
  directUrl: string;
  sqld: Sqld;
  /** Present with `proxy: true` or `latencyMs`. */
  proxy: CountingProxy | undefined;
}

export interface RemoteOptions {
  /** Put the counting proxy between strata and sqld. */
  proxy?: boolean;
  /** Latency the proxy adds to every request (implies `proxy`). */
  latencyMs?: number;
  /**
   * `ws` hands out the namespace's ws:// URL (Hrana over WebSocket), `libsql` its
   * `libsql://…?tls=0` form (WebSocket too, as @libsql/client reads it); both without proxy.
   */
  transport?: "http" | "ws" | "libsql";
}

let shared: Promise<Sqld> | undefined;
after(async () => {
  const server = shared;
  shared = undefined;
  await (await server?.catch(() => undefined))?.stop();
});

/** This test file's sqld (namespaces on, JWT auth on). */
export function fileSqld(): Promise<Sqld> {
  shared ??= startSqld({ namespaces: true });
  return shared;
}

export async function remote(t: { after: (fn: () => unknown) => void }, options: RemoteOptions = {}): Promise<Remote> {
  const sqld = await fileSqld();
  const db = await sqld.freshDatabase(t);
  let proxy: CountingProxy | undefined;
  let url = db.url;
  if (options.transport === "ws" || options.transport === "libsql") {
    if (options.proxy || options.latencyMs) throw new Error("the counting proxy forwards HTTP only");
    url = options.transport === "ws" ? db.url.replace(/^http:/, "ws:") : `${db.url.replace(/^http:/, "libsql:")}?tls=0`;
  } else if (options.proxy || options.latencyMs) {
    const p = await startCountingProxy(db.url, { latencyMs: options.latencyMs });
    t.after(() => p.close());
    proxy = p;
    url = p.url;
  }
  return { url, token: db.token, client: db.client, directUrl: db.url, sqld, proxy };
}

/** N SQL migrations `001_tN` … each creating a table with an index and two rows. */
export function tableMigrations(n: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    const v = String(i).padStart(3, "0");
    files[`${v}_t${i}.up.sql`] = `CREATE TABLE t${i} (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX ix_t${i}_v ON t${i} (v);\nINSERT INTO t${i} (v) VALUES ('a'), ('b');\n`;
    files[`${v}_t${i}.down.sql`] = `DROP TABLE t${i};\n`;
  }
  return files;
}
