/**
 * What backup and restore must never do: delete outside the backup folder or what strata did not
 * write, blame the wrong file, or swap a database under a process it cannot see.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { createHash } from "node:crypto";
import { createClient } from "@libsql/client";
import { backup } from "../src/commands/backup.ts";
import { restore } from "../src/commands/restore.ts";
import { PROC_SCAN_ENV } from "../src/backup/holders.ts";
import { Logger } from "../src/output/logger.ts";
import { TSX_LOADER, json, rejectsWith, tempDir } from "./support/cli.ts";
import { ops } from "./fixtures/app/cli.ts";

type T = Parameters<typeof tempDir>[0];

async function makeDb(file: string, rows = 20, wal = false): Promise<void> {
  const c = createClient({ url: "file:" + file });
  if (wal) await c.execute("PRAGMA journal_mode=WAL");
  await c.batch([
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB)",
    "CREATE INDEX ix_t_a ON t (a)",
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) INSERT INTO t SELECT i, 'row ' || i, randomblob(100) FROM n`,
  ], "write");
  c.close();
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Rewrites a manifest so that its checksum and size match the (replaced) backup file. */
function rewriteManifest(manifestPath: string, backupFile: string, patch: Record<string, unknown> = {}): void {
  const m = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  Object.assign(m, { sha256: sha256(backupFile), size: fs.statSync(backupFile).size }, patch);
  fs.writeFileSync(manifestPath, JSON.stringify(m, null, 2));
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ tty: false, color: false, write: (s) => lines.push(s) }), lines };
}

function setup(t: T) {
  const dir = tempDir(t);
  return { dir, db: path.join(dir, "app.db"), out: path.join(dir, "backups") };
}

test("--keep removes only what strata wrote: hostile, symlinked and altered entries are skipped with a warning, the victim survives", async (t) => {
  const { dir, db, out } = setup(t);
  await makeDb(db);
  const victim = path.join(dir, "victim.txt");
  fs.writeFileSync(victim, "precious");
  const outside = path.join(dir, "outside.db");
  fs.writeFileSync(outside, "also precious");
  const olds = [];
  for (let i = 0; i < 4; i++) olds.push(await backup({ url: db, out }));
  const source = olds[0]!.manifest;
  const template = JSON.parse(fs.readFileSync(source, "utf8"));
  // 1. The manifest: a name with the right prefix that climbs out of the folder.
  const hostile = { ...template, file: "app-20000101T000000Z-../../../../victim.txt", createdAt: "2000-01-01T00:00:00.000Z", sha256: sha256(victim), size: 8 };
  fs.writeFileSync(path.join(out, "app-20000101T000000Z-001.json"), JSON.stringify(hostile));
  // 2. A proper name, but a symlink to a file outside the folder.
  fs.symlinkSync(outside, path.join(out, "app-20000102T000000Z-001.db"));
  fs.writeFileSync(path.join(out, "app-20000102T000000Z-001.json"), JSON.stringify({ ...template, file: "app-20000102T000000Z-001.db", createdAt: "2000-01-02T00:00:00.000Z" }));
  // 3. A real old backup whose bytes no longer match its manifest.
  fs.appendFileSync(olds[0]!.path, "changed after it was written");

  const { logger, lines } = capture();
  const r = await backup({ url: db, out, keep: 2, logger });
  assert.equal(fs.readFileSync(victim, "utf8"), "precious", "the victim survives");
  assert.equal(fs.readFileSync(outside, "utf8"), "also precious");
  assert.ok(fs.lstatSync(path.join(out, "app-20000102T000000Z-001.db")).isSymbolicLink(), "the symlink is left alone");
  assert.ok(fs.existsSync(olds[0]!.path), "an altered backup is not removed");
  const text = lines.join("");
  assert.match(text, /not pruning app-20000101T000000Z-001\.json: its file ".*victim\.txt" is not a name strata gives backups/);
  assert.match(text, /not pruning app-20000102T000000Z-001\.json: .* is a symbolic link/);
  assert.match(text, /not pruning .*: .* does not match its manifest \(size or sha256\)/);
  assert.deepEqual(r.pruneSkipped.length, 3);
  // Only real, matching backups count and are pruned: the two older of olds[1..3] + r.
  assert.deepEqual(r.pruned.sort(), [olds[1]!.path, olds[2]!.path].sort());
  for (const p of r.pruned) assert.equal(fs.existsSync(p), false);
  assert.doesNotMatch(text, /pruned app-20000101/, "'pruned' only for files actually removed");
  assert.equal((text.match(/pruned app-/g) ?? []).length, 2);
});

test("restore uses no path from a manifest: a manifest naming another file is refused", async (t) => {
  const { db, out } = setup(t);
  await makeDb(db);
  const b = await backup({ url: db, out });
  rewriteManifest(b.manifest, b.path, { file: "../../etc/passwd" });
  await rejectsWith(restore({ url: db, out, file: b.path, yes: true }), "state", /describes "\.\.\/\.\.\/etc\/passwd", not app-/);
});

test("a text file renamed .db with a rewritten manifest: exit 1, 'not an SQLite database', naming the backup; nothing changed", async (t) => {
  const { dir, db, out } = setup(t);
  await makeDb(db);
  const b = await backup({ url: db, out });
  fs.writeFileSync(b.path, "id,name\n1,hello\n".repeat(100));
  rewriteManifest(b.manifest, b.path);
  const before = sha256(db);
  const r = await ops(["restore", b.path, "--url", db, "--yes", "--out", out], { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${b.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not an SQLite database`));
  assert.doesNotMatch(r.stderr, /strata-tmp|--url/, "names the user's file, not the temp copy, and blames no URL");
  assert.equal(sha256(db), before);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(".")), []);
});

test("a backup that fails the integrity check is reported under the backup's name", async (t) => {
  const { dir, db, out } = setup(t);
  await makeDb(db, 200);
  const b = await backup({ url: db, out });
  // An index whose definition no longer matches its entries: opens fine, fails integrity_check.
  const c = createClient({ url: "file:" + b.path });
  await c.executeMultiple("PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = 'CREATE INDEX ix_t_a ON t (b)' WHERE name = 'ix_t_a';");
  c.close();
  rewriteManifest(b.manifest, b.path);
  const r = await ops(["restore", b.path, "--url", db, "--yes", "--out", out], { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${path.basename(b.path).replace(/\./g, "\\.")} failed PRAGMA integrity_check`));
  assert.doesNotMatch(r.stderr, /strata-tmp/);
});

const ROOT_TMPFS = process.getuid?.() === 0 && process.platform === "linux";

test("disk full while writing a backup names the backup folder, not the database; no partial file is left", { skip: !ROOT_TMPFS && "needs root to mount a 1 MB tmpfs" }, async (t) => {
  const { dir, db } = setup(t);
  await makeDb(db, 12000); // ~1.5 MB: more than the folder holds
  const out = path.join(dir, "small");
  fs.mkdirSync(out);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", out]);
  if (mounted.status !== 0) return t.skip(`mount failed: ${mounted.stderr}`);
  try {
    const e = await rejectsWith(backup({ url: db, out }), "failure", new RegExp(`no space left in ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} while writing a snapshot of file:`));
    assert.match(e.hint ?? "", /--out/);
    assert.deepEqual(fs.readdirSync(out), [], "the partial snapshot is removed");
  } finally {
    spawnSync("umount", [out]);
  }
});

/** A process holding `file` open: in a read transaction, or idle after one read. */
async function holder(t: T, file: string, mode: "readtx" | "idle"): Promise<void> {
  const script = `import { createClient } from "@libsql/client";
const c = createClient({ url: "file:" + process.argv[1] });
if (process.argv[2] === "readtx") { const tx = await c.transaction("read"); await tx.execute("SELECT count(*) FROM t"); }
else await c.execute("SELECT count(*) FROM t");
process.stdout.write("ready\\n"); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--import", TSX_LOADER, "--input-type=module", "-e", script, file, mode], { stdio: ["ignore", "pipe", "inherit"], cwd: path.dirname(import.meta.dirname) });
  t.after(() => child.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("ready") && resolve());
    child.on("exit", (code) => reject(new Error(`holder exited ${code}`)));
  });
}

for (const [journal, mode] of [["rollback journal", "readtx"], ["WAL", "idle"]] as const) {
  test(`a holder the /proc scan does not list (${journal}, ${mode === "readtx" ? "open read transaction" : "idle connection"}) still blocks the restore; nothing changes`, async (t) => {
    const { dir, db, out } = setup(t);
    await makeDb(db, 20, journal === "WAL");
    const b = await backup({ url: db, out });
    const c = createClient({ url: "file:" + db });
    await c.execute("DELETE FROM t WHERE id > 5");
    c.close();
    await holder(t, db, mode);
    const before = sha256(db);
    process.env[PROC_SCAN_ENV] = "off"; // stands for a process in another PID namespace
    t.after(() => delete process.env[PROC_SCAN_ENV]);
    const e = await rejectsWith(restore({ url: db, out, file: b.path, yes: true }), "lock", /is in use: SQLite reports a lock held by another connection/);
    assert.match(e.hint ?? "", /stop every app/);
    assert.equal(sha256(db), before, "the database was not replaced");
    assert.equal(fs.readdirSync(out).filter((f) => f.includes("pre-restore")).length, 0, "refused before anything was done");
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(".")), []);
    const after = createClient({ url: "file:" + db });
    t.after(() => after.close());
    assert.equal(String((await after.execute("PRAGMA journal_mode")).rows[0]![0]), journal === "WAL" ? "wal" : "delete", "journal mode unchanged");
    assert.equal(Number((await after.execute("SELECT count(*) FROM t")).rows[0]![0]), 5);
  });
}

test("--json reports the stale temp files a backup removed", async (t) => {
  const { dir, db, out } = setup(t);
  await makeDb(db);
  fs.mkdirSync(out);
  // A temp file of a process that is gone (pid 2^22 - 1 is above Linux's default pid_max).
  const stale = path.join(out, `.app.db.4194303@${(await import("../src/backup/files.ts")).HOST_TAG}.0123abcd.strata-tmp`);
  fs.writeFileSync(stale, Buffer.alloc(4096));
  const live = path.join(out, `.app.db.${process.pid}@${(await import("../src/backup/files.ts")).HOST_TAG}.0123abcd.strata-tmp`);
  fs.writeFileSync(live, "in use");
  // The same dead pid, written on another host or in another container (PID namespace).
  const foreign = path.join(out, `.app.db.4194303@${(await import("../src/backup/files.ts")).HOST_TAG}x.0123abcd.strata-tmp-journal`);
  fs.writeFileSync(foreign, "not ours to judge");
  const r = json(await ops(["backup", "--url", db, "--out", out, "--json"], { cwd: dir }));
  assert.deepEqual(r.tempFiles.removed, [stale]);
  assert.equal(r.tempFiles.removedBytes, 4096);
  assert.deepEqual(r.tempFiles.kept.sort(), [live, foreign].sort(), "a live process's and another host's temp files are left alone");
  assert.ok(fs.existsSync(live) && fs.existsSync(foreign));
});
