/**
 * The run lock's lease during an outage (#23: every retry loop renews the lease while it
 * waits). A run that holds the lock and waits for the server keeps its lease alive when the
 * server answers the renewal, and gives up before the lease lapses when it does not — so no
 * other runner can take the lock over from a run that is still going.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import type { Client } from "@libsql/client";
import { Engine } from "../src/runtime/migrator.ts";
import { openDatabase } from "../src/db/connection.ts";
import { silentLogger } from "../src/output/logger.ts";
import { tempDir } from "./support/cli.ts";

const LEASE_MS = 800;

/** A network-layer failure, as the client reports a reset connection. */
const reset = () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });

async function engineWith(t: Parameters<typeof tempDir>[0], wrap: (c: Client) => Client = (c) => c) {
  const db = await openDatabase("file:" + path.join(tempDir(t), "app.db"), { create: true });
  t.after(() => db.close());
  const engine = new Engine({ db: { ...db, client: wrap(db.client) }, table: "strata_migrations", logger: silentLogger, lockTimeoutMs: 30_000, leaseMs: LEASE_MS });
  const leaseLeft = async () => {
    const rs = await db.client.execute("SELECT (julianday(expires_at) - julianday('now')) * 86400000 AS ms FROM strata_migrations_lock WHERE id = 1");
    return Number(rs.rows[0]!.ms);
  };
  return { engine, leaseLeft };
}

test("a retry wait longer than the lease renews it: the lock is still this run's afterwards", async (t) => {
  const { engine, leaseLeft } = await engineWith(t);
  await engine.lock("up");
  let calls = 0;
  // Fails three times (waits of 250 + 750 + 2250 ms: far longer than the 800 ms lease), then answers.
  const answer = await engine.retryRead(async () => {
    if (++calls <= 3) throw reset();
    return "answered";
  }, 5);
  assert.equal(answer, "answered");
  assert.ok((await leaseLeft()) > 0, "the lease did not lapse while the run waited");
  await engine.unlock();
});

test("an outage the renewal cannot get through either ends before the lease lapses", async (t) => {
  // Every request fails except the test's own reads: renewals included.
  let down = false;
  const { engine, leaseLeft } = await engineWith(t, (client) =>
    new Proxy(client, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === "execute") return (stmt: unknown) => (down ? Promise.reject(reset()) : target.execute(stmt as string));
        return typeof v === "function" ? v.bind(target) : v;
      },
    }));
  await engine.lock("up");
  down = true;
  const failed = await engine.retryRead(() => Promise.reject(reset()), 20).then(() => undefined, (e: unknown) => e);
  assert.ok(failed instanceof Error, "the run gave up");
  assert.ok((await leaseLeft()) > 0, "it gave up while its lease was still valid (the lock timeout of 30 s was not waited out)");
});
