/**
 * Each snapshot method is consistent under a concurrent writer: the file copy under a read lock
 * (rollback-journal databases) and VACUUM INTO (WAL). The writer (another process) commits one
 * `events` row and one `ledger` row per transaction, so every committed state has
 * count(events) = count(ledger); a 16 MB filler table makes each copy long enough for commits to
 * land in the middle of it if nothing held them off. And the restore's safety backup is the
 * replaced file itself (a hard link), hashed, restorable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { createClient, type Client } from "@libsql/client";
import { backup } from "../src/commands/backup.ts";
import { restore } from "../src/commands/restore.ts";
import { ROOT, tempDir } from "./support/cli.ts";

type T = Parameters<typeof tempDir>[0];

function open(t: T, url: string): Client {
  const c = createClient({ url, intMode: "number" });
  t.after(() => c.close());
  return c;
}

async function one(c: Client, sql: string): Promise<unknown> {
  return (await c.execute(sql)).rows[0]![0];
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

for (const mode of ["delete", "wal"] as const) {
  test(`backups of a ${mode === "wal" ? "WAL" : "rollback-journal"} database taken while another process commits are each one committed state`, async (t) => {
    const dir = tempDir(t);
    const db = path.join(dir, "app.db");
    const out = path.join(dir, "backups");
    const setup = createClient({ url: "file:" + db });
    await setup.execute(`PRAGMA journal_mode=${mode}`);
    await setup.executeMultiple(`CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) INSERT INTO filler SELECT i, randomblob(4000) FROM n;`);
    setup.close();

    const writer = spawn(process.execPath, [path.join(ROOT, "test/fixtures/app/writer.mjs"), db, mode], { stdio: ["ignore", "pipe", "inherit"] });
    t.after(() => writer.kill("SIGKILL"));
    let stdout = "";
    let exitedEarly = false;
    writer.stdout!.on("data", (d) => (stdout += d));
    const exited = new Promise<void>((r) => writer.on("exit", () => ((exitedEarly = true), r())));
    // The writer's own progress lines: no connection of this process may hold a lock meanwhile.
    const progress = () => Math.max(0, ...stdout.trim().split("\n").filter(Boolean).map((l) => Number((JSON.parse(l) as { progress?: number }).progress ?? 0)));
    while (progress() < 40) {
      assert.ok(!exitedEarly, "the writer exited before the backups");
      await new Promise((r) => setTimeout(r, 20));
    }

    const backups = [];
    for (let i = 0; i < 4; i++) backups.push(await backup({ url: db, out }));
    const atEnd = progress();
    assert.ok(!exitedEarly, "the writer ran through the backups");
    writer.kill("SIGTERM");
    await exited;
    const total = (JSON.parse(stdout.trim().split("\n").pop()!) as { committed: number }).committed;

    const seen = new Set<number>();
    for (const b of backups) {
      assert.equal(b.kind, "snapshot");
      assert.equal(b.sha256, sha256(b.path), "the manifest's hash is the file's");
      const manifest = JSON.parse(fs.readFileSync(b.manifest, "utf8")) as { journalMode: string };
      assert.equal(manifest.journalMode, mode);
      const c = open(t, "file:" + b.path);
      assert.equal(await one(c, "PRAGMA integrity_check"), "ok");
      const events = Number(await one(c, "SELECT count(*) FROM events"));
      const ledger = Number(await one(c, "SELECT count(*) FROM ledger"));
      assert.equal(ledger, events, "every transaction whole: as many ledger rows as events");
      assert.equal(Number(await one(c, "SELECT coalesce(max(n), 0) FROM ledger")), ledger, "no transaction missing in between");
      assert.equal(b.tables.events, events, "the manifest counts what the file holds");
      assert.equal(b.tables.filler, 4000);
      for (const row of (await c.execute("SELECT payload, digest FROM events")).rows) {
        assert.equal(createHash("sha256").update(String(row.payload)).digest("hex"), row.digest, "no torn rows");
      }
      seen.add(events);
      c.close();
    }
    assert.ok(total >= atEnd && Math.min(...seen) >= 40, `every backup after the writer's first 40 commits (${[...seen].join(", ")} of ${total})`);
  });
}

test("restore's safety backup is the replaced file itself: hashed, mode 0600, restorable; the restored database is the backup", async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, "app.db");
  const out = path.join(dir, "backups");
  const c = createClient({ url: "file:" + db });
  await c.executeMultiple("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');");
  const b = await backup({ url: db, out });
  // Later: more rows, some of them only in the WAL when the restore starts.
  await c.executeMultiple("PRAGMA wal_autocheckpoint=0; INSERT INTO t (v) VALUES ('c'), ('d'), ('e');");
  c.close();
  const inodeBefore = fs.statSync(db).ino;

  const r = await restore({ url: db, file: b.path, yes: true, out });
  assert.ok(r.safetyBackup && /-base-pre-restore\.db$/.test(r.safetyBackup), String(r.safetyBackup));
  const safety = r.safetyBackup;
  assert.equal(fs.statSync(safety).ino, inodeBefore, "the replaced file, not a copy");
  assert.equal(fs.statSync(safety).mode & 0o777, 0o600);
  assert.equal(fs.statSync(safety).nlink, 1, "its only name now");
  assert.ok(!fs.existsSync(safety + "-wal"), "the WAL was checkpointed into it");
  const manifest = JSON.parse(fs.readFileSync(safety.replace(/\.db$/, ".json"), "utf8")) as { sha256: string; size: number; tables: Record<string, number>; journalMode: string; reason: string };
  assert.equal(manifest.sha256, sha256(safety));
  assert.equal(manifest.size, fs.statSync(safety).size);
  assert.deepEqual(manifest.tables, { t: 5 });
  assert.equal(manifest.journalMode, "wal");
  assert.equal(manifest.reason, "pre-restore");

  const restored = open(t, "file:" + db);
  assert.equal(Number(await one(restored, "SELECT count(*) FROM t")), 2);
  assert.equal(await one(restored, "PRAGMA journal_mode"), "wal", "the target keeps its WAL mode");
  restored.close();

  // Back to the state before the restore, from the safety backup.
  const back = await restore({ url: db, file: safety, yes: true, out });
  assert.equal(back.rows, 5);
  const again = open(t, "file:" + db);
  assert.deepEqual((await again.execute("SELECT v FROM t ORDER BY id")).rows.map((row) => row.v), ["a", "b", "c", "d", "e"]);
});
