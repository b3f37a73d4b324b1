/**
 * The test harness for the real libSQL server (test/support/sqld.ts): what every remote test
 * relies on — JWT auth is enforced, namespaces are separate databases, restarts keep the data.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "@libsql/client";
import { NO_SQLD, startSqld, type Sqld } from "./support/sqld.ts";

let server: Sqld;
before(async () => {
  if (!NO_SQLD) server = await startSqld({ namespaces: true });
});
after(async () => {
  await server?.stop();
});

test("sqld: tokens are checked, namespaces are separate databases, data survives a kill -9 + restart", { skip: NO_SQLD }, async (t) => {
  const a = await server.freshDatabase(t);
  const b = await server.freshDatabase(t);
  assert.match(a.url, /^http:\/\/t\w+\.localhost:\d+$/);
  await a.client.execute("CREATE TABLE only_in_a (x)");
  await a.client.execute("INSERT INTO only_in_a VALUES (1)");
  const inB = await b.client.execute("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'only_in_a'");
  assert.equal(inB.rows[0]!.n, 0);

  // Expired an hour ago: sqld allows 60 s of leeway.
  const bad = createClient({ url: a.url, authToken: server.sign({ exp: Math.floor(Date.now() / 1000) - 3600 }) });
  t.after(() => bad.close());
  await assert.rejects(bad.execute("SELECT 1"), (e: { message: string }) => /401/.test(e.message));

  await server.restart();
  const rs = await a.client.execute("SELECT x FROM only_in_a");
  assert.deepEqual(rs.rows.map((r) => r.x), [1]);
});
