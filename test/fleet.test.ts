/**
 * strata fleet: targets, the pool's canary/failure budget, and whole runs over many databases —
 * local files for the quick cases, the real sqld with namespaces (one database per tenant) for
 * the remote ones.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { spawn } from "node:child_process";
import { createClient, type Client } from "@libsql/client";
import { fleetDown, fleetStatus, fleetUp, type FleetRunResult } from "../src/commands/fleet.ts";
import { parseTargets, loadTargets } from "../src/fleet/targets.ts";
import { runPool } from "../src/fleet/pool.ts";
import { FleetProgress } from "../src/fleet/progress.ts";
import { up } from "../src/commands/migrate.ts";
import { Logger } from "../src/output/logger.ts";
import { resolveSettings } from "../src/config/settings.ts";
import { MAIN, TSX_LOADER, json, strata, tempDir, writeFiles } from "./support/cli.ts";
import { NO_SQLD, freePort, startSqld, type Sqld } from "./support/sqld.ts";
import { startCountingProxy } from "./support/counting-proxy.ts";

type T = Parameters<typeof tempDir>[0];

/** A small migration set: two tables, a row written once per application, then a UNIQUE index. */
const MIGRATIONS = {
  "001_tenant.up.sql": "CREATE TABLE account (id INTEGER PRIMARY KEY, email TEXT);\nCREATE TABLE runs (note TEXT);\n",
  "001_tenant.down.sql": "DROP TABLE runs;\nDROP TABLE account;\n",
  "002_note.up.sql": "INSERT INTO runs (note) VALUES ('002');\n",
  "002_note.down.sql": "DELETE FROM runs WHERE note = '002';\n",
  "003_unique_email.up.sql": "-- one account per email\nCREATE UNIQUE INDEX account_email ON account (email);\n",
  "003_unique_email.down.sql": "DROP INDEX account_email;\n",
};

function migrationsDir(t: T): string {
  const dir = path.join(tempDir(t), "migrations");
  writeFiles(dir, MIGRATIONS);
  return dir;
}

// ---------------------------------------------------------------- targets

test("targets file: one URL per line, comments, blank lines, token_file=, relative paths against the file's folder", () => {
  const text = "# tenants\n\nacme.db\nhttp://a.localhost:8080   token_file=tokens/a  # own token\n  libsql://b.turso.io?authToken=SECRETTOKEN1  \n";
  const targets = parseTargets(text, "/etc/fleet/targets.txt", "/etc/fleet");
  assert.deepEqual(targets.map((x) => [x.url.replace(/\?.*/, ""), x.tokenFile, x.origin]), [
    ["file:/etc/fleet/acme.db", undefined, "/etc/fleet/targets.txt:3"],
    ["http://a.localhost:8080", "/etc/fleet/tokens/a", "/etc/fleet/targets.txt:4"],
    ["libsql://b.turso.io", undefined, "/etc/fleet/targets.txt:5"],
  ]);
  assert.equal(targets[2]!.display, "libsql://b.turso.io?authToken=REDACTED");
});

test("targets file: an unknown word after the URL, a duplicate, an empty list and no targets at all are refused with where", () => {
  assert.throws(() => parseTargets("a.db\nb.db tokenfile=x\n", "t.txt", "/x"), (e: any) => e.kind === "usage" && e.where === "t.txt:2" && /tokenfile=x/.test(e.message));
  assert.throws(() => parseTargets("a.db\n./a.db\n", "t.txt", "/x"), (e: any) => e.kind === "usage" && /listed twice \(t.txt:1 and t.txt:2\)/.test(e.message));
  assert.throws(() => loadTargets({ targets: "-", readStdin: () => "# nothing\n" }), (e: any) => e.kind === "config" && /empty/.test(e.message));
  assert.throws(() => loadTargets({}), (e: any) => e.kind === "config" && /--targets/.test(e.hint));
});

test("strata.toml: targets = FILE or [[fleet]] tables (paths relative to the config), not both", (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, "fleet.txt"), "one.db\n");
  fs.writeFileSync(path.join(dir, "a.toml"), 'targets = "fleet.txt"\n');
  fs.writeFileSync(path.join(dir, "b.toml"), '[[fleet]]\nurl = "x.db"\n\n[[fleet]]\nurl = "http://y.localhost:1"\nauth_token_file = "y.token"\n');
  fs.writeFileSync(path.join(dir, "c.toml"), 'targets = "fleet.txt"\n[[fleet]]\nurl = "x.db"\n');
  fs.writeFileSync(path.join(dir, "d.toml"), '[[fleet]]\nurl = "x.db"\ntoken = "t"\n');
  const fromConfig = (name: string) => loadTargets({ config: resolveSettings({ config: path.join(dir, name) }, { env: {} }).fleet });
  assert.deepEqual(fromConfig("a.toml").map((x) => x.url), [`file:${dir}/one.db`]);
  assert.deepEqual(fromConfig("b.toml").map((x) => [x.url, x.tokenFile]), [[`file:${dir}/x.db`, undefined], ["http://y.localhost:1", `${dir}/y.token`]]);
  assert.throws(() => fromConfig("c.toml"), /both targets/);
  assert.throws(() => fromConfig("d.toml"), /unknown key "token"/);
  // --targets wins over strata.toml.
  fs.writeFileSync(path.join(dir, "other.txt"), "two.db\n");
  assert.deepEqual(loadTargets({ targets: "other.txt", cwd: dir, config: resolveSettings({ config: path.join(dir, "a.toml") }, { env: {} }).fleet }).map((x) => x.url), [`file:${dir}/two.db`]);
});

// ---------------------------------------------------------------- the pool

/** Runs fake tasks that fail for the given indexes; records how many ran at once. */
async function pool(n: number, failing: number[], options: { concurrency: number; canary?: number; maxFailures?: number }) {
  let running = 0;
  let peak = 0;
  const { results, stoppedBy } = await runPool(
    Array.from({ length: n }, (_, i) => i),
    async (i) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      return !failing.includes(i);
    },
    (ok) => !ok,
    { canary: options.canary ?? 0, maxFailures: options.maxFailures ?? 1, concurrency: options.concurrency },
  );
  return { started: results.filter((r) => r !== undefined).length, peak, stoppedBy, results };
}

test("pool: bounded concurrency, max-failures stops new starts (running ones finish), canary stops the rest", async () => {
  assert.deepEqual(await pool(40, [], { concurrency: 8 }).then((r) => [r.started, r.peak, r.stoppedBy]), [40, 8, undefined]);
  // One at a time: the failure at index 3 stops everything after it.
  assert.deepEqual(await pool(10, [3], { concurrency: 1 }).then((r) => [r.started, r.stoppedBy]), [4, "max-failures"]);
  // Four at a time: the three started beside the failing one still finish.
  const four = await pool(20, [0], { concurrency: 4 });
  assert.equal(four.started, 4);
  assert.equal(four.stoppedBy, "max-failures");
  assert.deepEqual(await pool(10, [2, 5], { concurrency: 1, maxFailures: 100 }).then((r) => [r.started, r.stoppedBy]), [10, undefined]);
  assert.deepEqual(await pool(10, [1], { concurrency: 4, canary: 2, maxFailures: 100 }).then((r) => [r.started, r.stoppedBy]), [2, "canary"]);
  assert.deepEqual(await pool(10, [], { concurrency: 4, canary: 2 }).then((r) => [r.started, r.stoppedBy]), [10, undefined]);
  // A failure of the very last target stops nothing.
  assert.deepEqual(await pool(3, [2], { concurrency: 1 }).then((r) => [r.started, r.stoppedBy]), [3, undefined]);
});

test("progress: a live line on a terminal (done, failed, running, remaining, ETA); timestamped lines otherwise", () => {
  const out: string[] = [];
  const live = new FleetProgress(3, new Logger({ tty: true, color: false, write: (s) => out.push(s) }), (s) => out.push(s));
  live.started();
  live.started();
  live.finished({ target: "http://a.localhost:1", ok: true, summary: "base → 003" });
  live.finished({ target: "http://b.localhost:1", ok: false, summary: "boom" });
  live.end();
  const text = out.join("");
  assert.match(text, /\r\x1b\[K1\/3 done, 0 failed, 1 running, 1 remaining, ETA \d+:\d\d/);
  assert.match(text, /error: \[2\/3\] http:\/\/b\.localhost:1: boom\n/);
  assert.ok(text.endsWith("\r\x1b[K"), "the live line is cleared at the end");
  const plain: string[] = [];
  const p = new FleetProgress(1, new Logger({ tty: false, write: (s) => plain.push(s) }), () => assert.fail("no live line off a terminal"));
  p.started();
  p.finished({ target: "file:/x.db", ok: true, summary: "base → 003" });
  assert.match(plain.join(""), /^\d{4}-\d\d-\d\dT[\d:.]+Z info  \[1\/1\] file:\/x\.db: base → 003\n$/);
});

// ---------------------------------------------------------------- local files

test("fleet up on local files: a failing tenant is reported with file, line and statement; exit 6; rerun skips those at head", async (t) => {
  const dir = tempDir(t);
  const mdir = migrationsDir(t);
  const names = ["a", "b", "c"];
  fs.writeFileSync(path.join(dir, "targets.txt"), names.map((n) => `${n}.db`).join("\n") + "\n");
  // Tenant b has duplicate emails: the UNIQUE index of 003 cannot be built there.
  const first = await fleetUp({ targets: path.join(dir, "targets.txt"), dir: mdir, to: "002" });
  assert.equal(first.counts.migrated, 3);
  const b = createClient({ url: `file:${dir}/b.db` });
  t.after(() => b.close());
  await b.execute("INSERT INTO account (email) VALUES ('x@example.com'), ('x@example.com')");

  const r = await strata(["fleet", "up", "--targets", "targets.txt", "--dir", mdir, "--concurrency", "1", "--max-failures", "100", "--json"], { cwd: dir });
  assert.equal(r.code, 6, r.stderr);
  const out = json<FleetRunResult & { ok: boolean }>(r);
  assert.equal(out.ok, false);
  assert.deepEqual(out.targets.map((x) => [x.outcome, x.from, x.to, x.versions]), [
    ["migrated", "002", "003", ["003"]],
    ["failed", "002", "002", []],
    ["migrated", "002", "003", ["003"]],
  ]);
  const err = out.targets[1]!.error!;
  assert.equal(err.file, path.join(mdir, "003_unique_email.up.sql"));
  assert.equal(err.line, 2);
  assert.match(err.message, /UNIQUE constraint failed.*CREATE UNIQUE INDEX account_email/);
  assert.match(r.stderr, /error \[\d\/3\] file:.*b\.db: .*003_unique_email\.up\.sql:2: .*UNIQUE/);

  const text = await strata(["fleet", "up", "--targets", "targets.txt", "--dir", mdir], { cwd: dir });
  assert.equal(text.code, 6);
  assert.match(text.stdout, /at-goal\s+file:.*a\.db\s+003 → 003/);
  // Local databases run one after the other (SQLite calls are synchronous): c has not started
  // when b fails, and the default --max-failures 1 keeps it from starting.
  assert.match(text.stdout, /3 target\(s\), goal head: 0 migrated, 1 already there, 1 failed, 1 not started \(stopped: --max-failures reached\)/);
  const st = await strata(["fleet", "check", "--targets", "targets.txt", "--dir", mdir], { cwd: dir });
  assert.equal(st.code, 6);
  assert.match(st.stdout, /check failed: 1 of 3/);
  assert.match(st.stdout, /003 \(head\)\s+2\n002\s+1/);

  // A changed migration file: up refuses that database, which stays where it is.
  const a = createClient({ url: `file:${dir}/a.db` });
  t.after(() => a.close());
  await a.execute("UPDATE strata_migrations SET checksum = 'edited' WHERE version = '002'");
  const drift = await fleetUp({ targets: path.join(dir, "targets.txt"), dir: mdir, maxFailures: 100 });
  assert.deepEqual([drift.targets[0]!.outcome, drift.targets[0]!.error?.kind, drift.targets[0]!.from, drift.targets[0]!.to], ["failed", "state", "003", "003"]);
});

test("fleet down: --to REV on every database, then one step by default", async (t) => {
  const dir = tempDir(t);
  const mdir = migrationsDir(t);
  const targets = path.join(dir, "targets.txt");
  fs.writeFileSync(targets, "a.db\nb.db\n");
  await fleetUp({ targets, dir: mdir });
  const to = await fleetDown({ targets, dir: mdir, to: "001" });
  assert.deepEqual(to.targets.map((x) => [x.outcome, x.from, x.to, x.versions]), [["migrated", "003", "001", ["003", "002"]], ["migrated", "003", "001", ["003", "002"]]]);
  assert.equal((await fleetDown({ targets, dir: mdir, to: "001" })).counts["at-goal"], 2, "a rerun finds them there");
  const step = await fleetDown({ targets, dir: mdir });
  assert.deepEqual(step.targets.map((x) => [x.from, x.to]), [["001", null], ["001", null]]);
  assert.equal((await fleetStatus({ targets, dir: mdir })).versions[0]!.version, null);
});

test("fleet: bad input touches no database — broken migration, --to naming nothing, bad flags", async (t) => {
  const dir = tempDir(t);
  const mdir = migrationsDir(t);
  fs.writeFileSync(path.join(mdir, "004_broken.up.sql"), "CREATE TABLE x (id INTEGER PRIMARY KEY;\n'unterminated\n");
  fs.writeFileSync(path.join(dir, "targets.txt"), "a.db\nb.db\n");
  const broken = await strata(["fleet", "up", "--targets", "targets.txt", "--dir", mdir], { cwd: dir });
  assert.equal(broken.code, 1, broken.stderr);
  assert.match(broken.stderr, /004_broken\.up\.sql/);
  fs.rmSync(path.join(mdir, "004_broken.up.sql"));
  const to = await strata(["fleet", "up", "--targets", "targets.txt", "--dir", mdir, "--to", "999"], { cwd: dir });
  assert.equal(to.code, 2, to.stderr);
  const conc = await strata(["fleet", "up", "--targets", "targets.txt", "--dir", mdir, "--concurrency", "0"], { cwd: dir });
  assert.equal(conc.code, 2, conc.stderr);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".db")), [], "no database was created");
});

test("SIGTERM (as Ctrl-C) stops new starts; the running database finishes; exit 130 with the summary", async (t) => {
  const dir = tempDir(t);
  const mdir = migrationsDir(t);
  const names = Array.from({ length: 40 }, (_, i) => `t${i}.db`);
  fs.writeFileSync(path.join(dir, "targets.txt"), names.join("\n") + "\n");
  const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN, "fleet", "up", "--targets", "targets.txt", "--dir", mdir, "--concurrency", "1"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => {
    child.stderr!.on("data", (d) => {
      stderr += d;
      // SIGTERM: the test runner's children may have SIGINT ignored; both take the same path.
      if (/\[2\/40\]/.test(stderr) && !child.killed) child.kill("SIGTERM");
    });
    child.on("exit", (c) => resolve(c));
  });
  assert.equal(code, 130, stderr);
  assert.match(stderr, /SIGTERM: no new database starts; the running ones finish/);
  assert.match(stdout, /not started \(stopped: interrupted\)/);
  const started = names.filter((n) => fs.existsSync(path.join(dir, n)));
  assert.ok(started.length >= 2 && started.length < 40, `${started.length} started`);
  for (const n of started) {
    const c = createClient({ url: `file:${path.join(dir, n)}` });
    t.after(() => c.close());
    assert.equal(Number((await c.execute("SELECT count(*) AS n FROM strata_migrations")).rows[0]!.n), 3, `${n} finished`);
  }
});

// ---------------------------------------------------------------- the real sqld, one namespace per tenant

describe("fleet on sqld namespaces", { skip: NO_SQLD }, () => {
  let server: Sqld;
  let seq = 0;
  before(async () => {
    // Above sqld's default of 100 loaded namespaces, evictions answer some requests with 404.
    server = await startSqld({ namespaces: true, args: ["--max-active-namespaces", "500"] });
  });
  after(() => server?.stop());

  /** n fresh namespaces, a targets file listing them, and clients for assertions. */
  async function tenants(t: T, n: number): Promise<{ dir: string; file: string; urls: string[]; clients: Client[] }> {
    const dir = tempDir(t);
    const urls: string[] = [];
    for (let i = 0; i < n; i++) urls.push(await server.createNamespace(`f${process.pid}n${++seq}`));
    const file = path.join(dir, "targets.txt");
    fs.writeFileSync(file, `# ${n} tenants\n${urls.join("\n")}\n`);
    const clients = urls.map((url) => createClient({ url, authToken: server.token }));
    t.after(() => clients.forEach((c) => c.close()));
    return { dir, file, urls, clients };
  }

  async function versions(c: Client): Promise<string[]> {
    try {
      return (await c.execute("SELECT version FROM strata_migrations ORDER BY version")).rows.map((r) => String(r.version));
    } catch (e) {
      if (/no such table/.test(String(e))) return [];
      throw e;
    }
  }

  test("50 databases at concurrency 8: all migrated, never more than 8 at once; a rerun skips them all", async (t) => {
    const { file, clients } = await tenants(t, 50);
    const mdir = migrationsDir(t);
    let running = 0;
    let peak = 0;
    const options = { targets: file, dir: mdir, authToken: server.token, concurrency: 8, onStart: () => (peak = Math.max(peak, ++running)), onDone: () => running-- };
    const r = await fleetUp(options);
    assert.equal(r.ok, true, JSON.stringify(r.targets.find((x) => x.error)?.error));
    assert.equal(r.counts.migrated, 50);
    assert.equal(peak, 8);
    for (const c of clients) assert.deepEqual(await versions(c), ["001", "002", "003"]);
    const again = await fleetUp(options);
    assert.deepEqual(again.counts, { migrated: 0, "at-goal": 50, failed: 0, "not-started": 0 });
    const st = await fleetStatus(options);
    assert.deepEqual([st.ok, st.versions], [true, [{ version: "003", count: 50 }]]);
  });

  test("a rerun: a database already at head costs one request and is not written to", async (t) => {
    const { dir, urls, clients } = await tenants(t, 2);
    const mdir = migrationsDir(t);
    const proxies = await Promise.all(urls.map((u) => startCountingProxy(u)));
    t.after(() => Promise.all(proxies.map((p) => p.close())));
    fs.writeFileSync(path.join(dir, "proxied.txt"), proxies.map((p) => p.url).join("\n"));
    const options = { targets: path.join(dir, "proxied.txt"), dir: mdir, authToken: server.token };
    assert.equal((await fleetUp(options)).counts.migrated, 2);
    const logRows = async () => Number((await clients[0]!.execute("SELECT count(*) AS n FROM strata_migrations_log")).rows[0]!.n);
    const logged = await logRows();
    proxies.forEach((p) => p.resetStats());
    const again = await fleetUp(options);
    assert.equal(again.counts["at-goal"], 2);
    assert.deepEqual(proxies.map((p) => p.stats.requests), [1, 1]);
    assert.equal(await logRows(), logged, "a skipped database is not written to");
  });

  test("a rollout: after the first database, each one with work costs what `strata up` costs (no preview); one found at head brings previews back", async (t) => {
    const { dir, urls, clients } = await tenants(t, 5);
    const mdir = migrationsDir(t);
    const proxies = await Promise.all(urls.map((u) => startCountingProxy(u)));
    t.after(() => Promise.all(proxies.map((p) => p.close())));
    // What a plain `strata up` costs on the same kind of database, with work and at head.
    const single = { url: proxies[4]!.url, dir: mdir, authToken: server.token };
    await up(single);
    const upWithWork = proxies[4]!.stats.requests;
    proxies[4]!.resetStats();
    await up(single);
    const upAtHead = proxies[4]!.stats.requests;
    // Database 2 is at head already; 0, 1 and 3 have work. One at a time, so the order is fixed.
    await up({ ...single, url: urls[2]! });
    fs.writeFileSync(path.join(dir, "proxied.txt"), proxies.slice(0, 4).map((p) => p.url).join("\n"));
    const options = { targets: path.join(dir, "proxied.txt"), dir: mdir, authToken: server.token, concurrency: 1 };
    const r = await fleetUp(options);
    assert.deepEqual(r.targets.map((x) => x.outcome), ["migrated", "migrated", "at-goal", "migrated"]);
    assert.deepEqual(r.targets.map((x) => x.from), [null, null, "003", null], "where each started, also without a preview");
    assert.deepEqual(
      proxies.slice(0, 4).map((p) => p.stats.requests),
      [1 + upWithWork, upWithWork, upAtHead, 1 + upWithWork],
      "a preview for the first; none while every finished one had work; back after one at head",
    );
    for (const c of clients) assert.deepEqual(await versions(c), ["001", "002", "003"]);
  });

  test("two fleet runs at once over the same databases: each migration applied once, both succeed", async (t) => {
    const { file, clients } = await tenants(t, 6);
    const mdir = migrationsDir(t);
    const options = { targets: file, dir: mdir, authToken: server.token, concurrency: 3 };
    const [a, b] = await Promise.all([fleetUp(options), fleetUp(options)]);
    assert.ok(a.ok && b.ok, JSON.stringify([a.targets, b.targets].flat().find((x) => x.error)?.error));
    assert.equal(a.counts.migrated + b.counts.migrated + a.counts["at-goal"] + b.counts["at-goal"], 12);
    for (const [i, c] of clients.entries()) {
      assert.deepEqual(await versions(c), ["001", "002", "003"]);
      assert.equal(Number((await c.execute("SELECT count(*) AS n FROM runs")).rows[0]!.n), 1);
      const applied = [a.targets[i]!.versions, b.targets[i]!.versions].flat().sort();
      assert.deepEqual(applied, ["001", "002", "003"], "the two runs' reports add up to one application of each migration");
    }
  });

  test("a tenant whose data breaks a migration: --max-failures 1 leaves the rest untouched, --max-failures 100 migrates all others", async (t) => {
    const { file, clients } = await tenants(t, 6);
    const mdir = migrationsDir(t);
    const base = { targets: file, dir: mdir, authToken: server.token };
    await fleetUp({ ...base, to: "001" });
    await clients[1]!.execute("INSERT INTO account (email) VALUES ('dup@example.com'), ('dup@example.com')");

    const stopped = await fleetUp({ ...base, concurrency: 1 });
    assert.deepEqual(stopped.targets.map((x) => x.outcome), ["migrated", "failed", "not-started", "not-started", "not-started", "not-started"]);
    assert.equal(stopped.stoppedBy, "max-failures");
    const err = stopped.targets[1]!.error!;
    assert.deepEqual([err.file, err.line], [path.join(mdir, "003_unique_email.up.sql"), 2]);
    assert.match(err.message, /UNIQUE constraint failed.*in statement: CREATE UNIQUE INDEX account_email/);
    // The failing tenant kept what committed before the failure (002) and nothing of 003.
    assert.deepEqual([stopped.targets[1]!.from, stopped.targets[1]!.to, stopped.targets[1]!.versions], ["001", "002", ["002"]]);
    assert.deepEqual(await versions(clients[1]!), ["001", "002"]);
    for (const c of clients.slice(2)) assert.deepEqual(await versions(c), ["001"], "not started: untouched");

    const all = await fleetUp({ ...base, concurrency: 3, maxFailures: 100 });
    assert.deepEqual(all.counts, { migrated: 4, "at-goal": 1, failed: 1, "not-started": 0 });
    for (const [i, c] of clients.entries()) assert.deepEqual(await versions(c), i === 1 ? ["001", "002"] : ["001", "002", "003"]);
    const runs = await Promise.all(clients.map(async (c) => Number((await c.execute("SELECT count(*) AS n FROM runs")).rows[0]!.n)));
    assert.deepEqual(runs, [1, 1, 1, 1, 1, 1], "002 ran exactly once everywhere");
  });

  test("a failing canary stops the rest before they start", async (t) => {
    const { file, clients } = await tenants(t, 5);
    const mdir = migrationsDir(t);
    await clients[0]!.execute("CREATE TABLE account (id INTEGER PRIMARY KEY, email TEXT)"); // 001 cannot run there
    const r = await strata(["fleet", "up", "--targets", file, "--dir", mdir, "--canary", "2", "--max-failures", "100", "--json"], { env: { DATABASE_AUTH_TOKEN: server.token } });
    assert.equal(r.code, 6, r.stderr);
    const out = json<FleetRunResult>(r);
    assert.equal(out.stoppedBy, "canary");
    assert.deepEqual(out.targets.map((x) => x.outcome), ["failed", "migrated", "not-started", "not-started", "not-started"]);
    assert.match(out.targets[0]!.error!.message, /table account already exists/);
    for (const c of clients.slice(2)) assert.deepEqual(await versions(c), []);
    assert.match(r.stdout, /"stoppedBy": "canary"/);
  });

  test("kill -9 of a fleet run: the rerun completes every database, each migration exactly once", async (t) => {
    const { file, clients } = await tenants(t, 16);
    const mdir = migrationsDir(t);
    const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN, "fleet", "up", "--targets", file, "--dir", mdir, "--concurrency", "2"], {
      env: { ...process.env, DATABASE_AUTH_TOKEN: server.token },
      stdio: ["ignore", "ignore", "pipe"],
    });
    t.after(() => child.kill("SIGKILL"));
    // Kill it once some databases are done and others are in flight.
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stderr!.on("data", (d) => {
        err += d;
        if (/\[3\/16\]/.test(err)) resolve();
      });
      child.on("exit", () => reject(new Error(`fleet run ended before it was killed:\n${err}`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const before = await Promise.all(clients.map(versions));
    assert.ok(before.some((v) => v.length === 3) && before.some((v) => v.length < 3), `killed midway: ${JSON.stringify(before)}`);

    const r = await strata(["fleet", "up", "--targets", file, "--dir", mdir, "--lock-timeout", "5s", "--json"], { env: { DATABASE_AUTH_TOKEN: server.token } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const c of clients) {
      assert.deepEqual(await versions(c), ["001", "002", "003"]);
      assert.equal(Number((await c.execute("SELECT count(*) AS n FROM runs")).rows[0]!.n), 1);
    }
  });

  test("a host that accepts connections and never answers is given up on after --request-timeout; the others go on", async (t) => {
    const { dir, urls, clients } = await tenants(t, 2);
    const mdir = migrationsDir(t);
    // A black hole: TCP connections are accepted, nothing is ever answered (a hung host).
    const sockets = new Set<net.Socket>();
    const hole = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    t.after(() => {
      for (const s of sockets) s.destroy();
      hole.close();
    });
    const port = (hole.address() as net.AddressInfo).port;
    fs.writeFileSync(path.join(dir, "targets.txt"), [`http://127.0.0.1:${port}`, ...urls].join("\n"));
    const started = Date.now();
    const r = await fleetUp({ targets: path.join(dir, "targets.txt"), dir: mdir, authToken: server.token, maxFailures: 100, requestTimeoutMs: 500 });
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    assert.deepEqual(r.targets.map((x) => [x.outcome, x.error?.kind ?? null]), [["failed", "unreachable"], ["migrated", null], ["migrated", null]]);
    for (const c of clients) assert.deepEqual(await versions(c), ["001", "002", "003"]);
  });

  test("an unreachable target is reported and counted, not hung on; secrets never printed; status shows drift", async (t) => {
    const { dir, urls, clients } = await tenants(t, 3);
    const mdir = migrationsDir(t);
    const deadPort = await freePort();
    fs.writeFileSync(path.join(dir, "good.token"), server.token);
    // Every target but the second uses a wrong default token: their own token_file wins.
    const lines = [`${urls[0]} token_file=good.token`, `http://127.0.0.1:${deadPort}?authToken=URLSECRET123`, `${urls[1]} token_file=good.token`, `${urls[2]} token_file=good.token`];
    fs.writeFileSync(path.join(dir, "targets.txt"), lines.join("\n") + "\n");
    const wrong = "wrong-token-never-printed";
    const started = Date.now();
    const r = await strata(["fleet", "up", "--targets", "-", "--dir", mdir, "--auth-token", wrong, "--max-failures", "100"], { cwd: dir, input: fs.readFileSync(path.join(dir, "targets.txt"), "utf8") });
    assert.equal(r.code, 6, r.stderr);
    assert.ok(Date.now() - started < 30_000);
    assert.match(r.stdout, new RegExp(`failed\\s+http://127\\.0\\.0\\.1:${deadPort}\\?authToken=REDACTED .*connection refused`));
    assert.match(r.stdout, /3 migrated, 0 already there, 1 failed/);
    for (const secret of [wrong, "URLSECRET123", server.token]) assert.ok(!(r.stdout + r.stderr).includes(secret), `${secret.slice(0, 6)}… printed`);
    for (const c of clients) assert.deepEqual(await versions(c), ["001", "002", "003"]);

    // Drift: a changed checksum on one, a held lock on another.
    await clients[0]!.execute("UPDATE strata_migrations SET checksum = 'x' WHERE version = '002'");
    await clients[1]!.execute(`INSERT INTO strata_migrations_lock (id, holder, host, pid, strata_version, command, started_at, expires_at) VALUES (1, 'h', 'elsewhere', 1, '0', 'up', '2026-01-01T00:00:00.000Z', '2999-01-01T00:00:00.000Z')`).catch(async (e) => {
      throw new Error(`lock table shape changed? ${e}\n${(await clients[1]!.execute("SELECT sql FROM sqlite_schema WHERE name = 'strata_migrations_lock'")).rows[0]?.sql}`);
    });
    const st = await fleetStatus({ targets: path.join(dir, "targets.txt"), dir: mdir, authToken: wrong });
    assert.deepEqual(st.counts, { "at-head": 1, behind: 0, drift: 2, unreachable: 1 });
    assert.deepEqual(st.problems.map((p) => [p.state, p.changed, p.lock?.host ?? null]), [["drift", ["002"], null], ["unreachable", [], null], ["drift", [], "elsewhere"]]);
    assert.equal(st.ok, false, "what fleet check gates on");
  });
});
