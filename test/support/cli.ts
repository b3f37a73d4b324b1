/**
 * Test helpers: run the strata CLI from source in a child process, make temp folders that are
 * removed after the test, and query SQLite files directly.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createClient, type Client } from "@libsql/client";
import { StrataError } from "../../src/errors.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MAIN = path.join(ROOT, "src/main.ts");
/** tsx's loader by absolute URL, so child processes can run from any working directory. */
export const TSX_LOADER = import.meta.resolve("tsx");
export const CALENDAR_MIGRATIONS = path.join(ROOT, "migrations");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Replace the environment instead of extending it. */
  cleanEnv?: boolean;
  input?: string;
  timeoutMs?: number;
}

/** The environment a test run starts from: none of strata's variables leak in from the host. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(DATABASE_|STRATA_|LIBSQL_|TURSO_)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

export function runCommand(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = options.cleanEnv ? {} : baseEnv();
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** `strata …` from source on Node (tsx). */
export function strata(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, ["--import", TSX_LOADER, MAIN, ...args], options);
}

/** A temp folder removed when the test ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = "strata-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A copy of the shipped calendar migrations in `dir`/migrations. */
export function copyCalendar(dir: string): string {
  const target = path.join(dir, "migrations");
  fs.cpSync(CALENDAR_MIGRATIONS, target, { recursive: true });
  return target;
}

export function writeFiles(dir: string, files: Record<string, string | Buffer>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
}

/** Opens a SQLite file for assertions; closed when the test ends. */
export function openDb(t: { after: (fn: () => void) => void }, file: string): Client {
  const client = createClient({ url: "file:" + file });
  t.after(() => client.close());
  return client;
}

/** The user schema (strata's tables excluded), for comparing structures. */
export async function userSchema(client: Client): Promise<string[]> {
  const rs = await client.execute(
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'strata_%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
  );
  return rs.rows.map((r) => `${r.type} ${r.name} ${r.tbl_name}: ${r.sql}`);
}

export function json<T = any>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** Awaits `p` and checks it fails with a StrataError of `kind` whose message matches. */
export async function rejectsWith(p: Promise<unknown>, kind: string, pattern: RegExp): Promise<StrataError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StrataError, `expected StrataError, got ${e}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return e;
  }
  assert.fail("expected an error");
}
