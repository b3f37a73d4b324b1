/**
 * A remote database for tests: the in-process Hrana test server on a fresh temp file, or — when
 * STRATA_TEST_LIBSQL_URL (and STRATA_TEST_LIBSQL_TOKEN) are set — a real libSQL server, emptied
 * before each test. Knob-based tests (request counts, injected failures) need the test server.
 */
import path from "node:path";
import { createClient, type Client } from "@libsql/client";
import { startHranaServer, type HranaServer } from "./hrana-server.ts";
import { tempDir } from "./cli.ts";

export const REAL_URL = process.env.STRATA_TEST_LIBSQL_URL;
export const REAL_TOKEN = process.env.STRATA_TEST_LIBSQL_TOKEN;
/** Skip reason for tests that need the test server's knobs. */
export const NEEDS_TEST_SERVER = REAL_URL ? "needs the Hrana test server's request counter and fault knobs" : false;

export interface Remote {
  url: string;
  token: string;
  /** The test server, absent against a real server. */
  server: HranaServer | undefined;
  /** A client for assertions. */
  client: Client;
}

export const TEST_TOKEN = "tok_" + "s3cr3t".repeat(4) + "_never_printed";

export async function remote(t: Parameters<typeof tempDir>[0], options: { latencyMs?: number } = {}): Promise<Remote> {
  if (REAL_URL) {
    const client = createClient({ url: REAL_URL, authToken: REAL_TOKEN });
    t.after(() => client.close());
    await emptyDatabase(client);
    return { url: REAL_URL, token: REAL_TOKEN ?? "", server: undefined, client };
  }
  const dbPath = path.join(tempDir(t), "remote.db");
  const server = await startHranaServer({ dbPath, authToken: TEST_TOKEN, latencyMs: options.latencyMs ?? 0 });
  const client = createClient({ url: server.url, authToken: TEST_TOKEN });
  t.after(async () => {
    client.close();
    await server.close();
  });
  return { url: server.url, token: TEST_TOKEN, server, client };
}

async function emptyDatabase(client: Client): Promise<void> {
  const rs = await client.execute("SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND type IN ('view', 'trigger', 'table')");
  const order = ["view", "trigger", "table"];
  const drops = rs.rows
    .sort((a, b) => order.indexOf(String(a.type)) - order.indexOf(String(b.type)))
    .map((r) => `DROP ${String(r.type).toUpperCase()} IF EXISTS "${String(r.name).replace(/"/g, '""')}"`);
  if (drops.length > 0) await client.migrate(drops);
}
