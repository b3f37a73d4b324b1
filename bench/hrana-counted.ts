/**
 * The Hrana test server (test/support/hrana-server.ts) as a separate process whose request
 * counters can be read: the standalone mode of that file prints its URL but offers no way to
 * read `stats` from outside, so the bench starts it through this wrapper.
 *
 *   node --import tsx bench/hrana-counted.ts --db PATH [--latency-ms N] [--port N]
 *
 * stdout, first line: {"url":"http://127.0.0.1:PORT"}. Then it reads commands on stdin, one per
 * line, and answers each with one JSON line on stdout:
 *   stats  -> {"requests":N,"pipelines":N,"serverMs":N,"byShape":{"execute+close":N,…}}
 *            (serverMs: summed time from each request's arrival to its response's end, added
 *            latency included)
 *   reset  -> {"ok":true}
 * It exits when stdin closes, or on SIGTERM/SIGINT.
 */
import diagnostics from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import process from "node:process";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { startHranaServer } from "../test/support/hrana-server.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { db: { type: "string" }, port: { type: "string" }, "latency-ms": { type: "string" } },
  });
  if (values.db === undefined) throw new Error("usage: hrana-counted.ts --db PATH [--latency-ms N] [--port N]");
  const server = await startHranaServer({
    dbPath: values.db,
    port: values.port === undefined ? 0 : Number(values.port),
    latencyMs: values["latency-ms"] === undefined ? 0 : Number(values["latency-ms"]),
  });
  // Time spent inside the server per request, to tell server time from client time.
  let serverMs = 0;
  const arrived = new WeakMap<IncomingMessage, number>();
  diagnostics.subscribe("http.server.request.start", (m) => arrived.set((m as { request: IncomingMessage }).request, performance.now()));
  diagnostics.subscribe("http.server.response.finish", (m) => {
    const start = arrived.get((m as { request: IncomingMessage }).request);
    if (start !== undefined) serverMs += performance.now() - start;
  });
  // Pipeline shapes ("batch+close", "execute", …) to see what each round trip carried.
  let byShape: Record<string, number> = {};
  server.onRequest = (info) => {
    const shape = info.requests.length > 0 ? info.requests.join("+") : `${info.method} ${info.path}`;
    byShape[shape] = (byShape[shape] ?? 0) + 1;
  };
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "stats") process.stdout.write(`${JSON.stringify({ ...server.stats, serverMs: Math.round(serverMs * 10) / 10, byShape })}\n`);
    else if (cmd === "reset") {
      server.resetStats();
      byShape = {};
      serverMs = 0;
      process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
    } else if (cmd) process.stdout.write(`${JSON.stringify({ error: `unknown command ${cmd}` })}\n`);
  });
  lines.on("close", stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
