/**
 * Loads libSQL's native module inside the compiled binary (build.ts routes libsql's loader here;
 * from source, Node/Deno/Bun load `@libsql/*` from node_modules and never import this file).
 *
 * The .node file is embedded in the executable and must be copied onto a real filesystem before
 * dlopen can map it. Bun's own way (a fresh copy in $TMPDIR on every start) fails obscurely when
 * /tmp is mounted noexec (CIS-hardened servers), when TMPDIR names a missing directory, or when it
 * is full. So we place one copy per user, named by content, in the first directory that works:
 *   1. $TMPDIR (or /tmp)            -> <tmp>/strata-<uid>/
 *   2. $XDG_CACHE_HOME or ~/.cache  -> <cache>/strata/
 *   3. next to the executable       -> <bindir>/.strata/
 * and reuse it on later starts (no 10 MB write per run). If none works, exit 4 naming the
 * variable to set.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { StrataError } from "../errors.ts";

interface Candidate { label: string; dir: string; shared: boolean }

function candidates(): Candidate[] {
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  const env = process.env;
  const home = env["HOME"] || os.homedir();
  const cache = env["XDG_CACHE_HOME"] || (home ? path.join(home, ".cache") : "");
  const list: Candidate[] = [
    // os.tmpdir() is $TMPDIR (TMP/TEMP on Windows) or the system default.
    { label: `TMPDIR (${os.tmpdir()})`, dir: path.join(os.tmpdir(), `strata-${uid ?? "user"}`), shared: true },
  ];
  if (cache) {
    list.push({ label: `${env["XDG_CACHE_HOME"] ? "XDG_CACHE_HOME" : "~/.cache"} (${cache})`, dir: path.join(cache, "strata"), shared: false });
  }
  list.push({ label: `the executable's directory (${path.dirname(process.execPath)})`, dir: path.join(path.dirname(process.execPath), ".strata"), shared: false });
  return list;
}

/**
 * A directory only we can write to. In a shared /tmp another user could pre-create it (or a
 * symlink) to plant a library we would load: refuse anything not owned by us or writable by others.
 */
function privateDir(c: Candidate): string {
  // Parents are created only for our own cache; a missing TMPDIR is the user's mistake to report.
  try {
    fs.mkdirSync(c.dir, { recursive: !c.shared, mode: 0o700 });
  } catch (error) {
    if ((error as { code?: unknown }).code !== "EEXIST") throw error;
  }
  const st = fs.lstatSync(c.dir);
  if (!st.isDirectory()) throw new Error("not a directory");
  if (typeof process.getuid === "function" && process.platform !== "win32") {
    if (st.uid !== process.getuid()) throw new Error(`owned by uid ${st.uid}, not us`);
    if ((st.mode & 0o022) !== 0) throw new Error("writable by other users");
  }
  return c.dir;
}

/** The module's file in `dir`: reused when complete, else written under a temp name and renamed. */
function place(dir: string, name: string, size: number, bytes: () => Uint8Array): string {
  const file = path.join(dir, name);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (st && st.isFile() && st.size === size) return file;
  const temp = path.join(dir, `.${name}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temp, bytes(), { mode: 0o755 });
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
  return file;
}

type Step = "create" | "write" | "exec" | "load";

function reason(step: Step, error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  // A noexec mount makes access(X_OK) fail with EACCES even for root.
  if (step === "exec") return `does not allow running code (mounted noexec?) (${code ?? "error"})`;
  if (step === "load") return `dlopen failed: ${String(e.message ?? error)}`;
  const what: Record<string, string> = { ENOENT: "does not exist", EACCES: "not writable", EPERM: "not writable", EROFS: "read-only file system", ENOSPC: "full", EDQUOT: "over quota", ENOTDIR: "not a directory" };
  return code ? `${what[code] ?? String(e.message)} (${code})` : String(e.message ?? error);
}

/**
 * Returns the exports of the embedded native module at `embedded` (a path inside the executable).
 * `name` is content-addressed (build.ts puts a hash in it), so a stale copy is never reused.
 */
export function loadEmbeddedNative(embedded: string, name: string): unknown {
  // Its size from a stat: reading the ~10 MB only to measure it cost ~20 ms and 10 MB at every start.
  const size = fs.statSync(embedded).size;
  let data: Uint8Array | undefined;
  const bytes = (): Uint8Array => (data ??= fs.readFileSync(embedded));
  const failures: string[] = [];
  for (const c of candidates()) {
    let step: Step = "create";
    try {
      const dir = privateDir(c);
      step = "write";
      const file = place(dir, name, size, bytes);
      step = "exec";
      fs.accessSync(file, fs.constants.X_OK);
      step = "load";
      const mod = { exports: {} as unknown };
      process.dlopen(mod, file);
      return mod.exports;
    } catch (error) {
      failures.push(`${c.label}: ${reason(step, error)}`);
    }
  }
  throw new StrataError("unreachable", `cannot load libSQL's native module: no directory allows it\n  ${failures.join("\n  ")}`, {
    hint: "set TMPDIR (or XDG_CACHE_HOME) to a writable directory on a filesystem mounted without noexec, e.g. TMPDIR=/var/tmp",
    details: { failures },
  });
}
