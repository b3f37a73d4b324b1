/**
 * A tiny HTTP forwarder in front of a real server (sqld): counts requests, adds latency, and
 * injects the faults a real server won't produce on demand (5xx answers, connections dropped
 * before or after the server ran the request). Everything else is the real server's doing.
 *
 *   const proxy = await startCountingProxy(db.url);   // db from server.freshDatabase(t)
 *   t.after(() => proxy.close());
 *   ... strata against proxy.url ...; proxy.stats.requests
 *
 * The target may be a sqld namespace (`http://NAME.localhost:PORT`): requests are sent to
 * 127.0.0.1 with the target's Host header, which is how sqld picks the namespace.
 * HTTP only (Hrana over HTTP); ws:// tests talk to sqld directly.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The status sent to the client, or null when the connection was dropped on purpose. */
  status: number | null;
  /** Types of the stream requests of a pipeline body (["batch", "close"]); [] otherwise. */
  requests: string[];
}

export interface ProxyStats {
  /** Every HTTP request the client sent. */
  requests: number;
  /** POSTs to /v2/pipeline or /v3/pipeline. */
  pipelines: number;
  /** Pipelines by content, e.g. {"batch+close": 2}. */
  byShape: Record<string, number>;
  /** Summed time from each request's arrival to its answer (added latency included). */
  serverMs: number;
}

export interface CountingProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  readonly stats: ProxyStats;
  resetStats(): void;
  /** Delay added before forwarding each request; mutable. */
  latencyMs: number;
  /** The next `n` pipeline requests are answered with `status` without reaching the server. */
  failNext(n: number, status?: number): void;
  /**
   * The next `n` pipeline requests lose their connection: before the server sees them, or after
   * the server answered (a lost response to a request that ran).
   */
  dropNext(n: number, when: "before" | "after"): void;
  /** Called once per request after it was answered or dropped. */
  onRequest: ((info: ProxiedRequest) => void) | undefined;
  close(): Promise<void>;
}

const PIPELINE = /^\/v[23]\/pipeline$/;

/** Best-effort request types of a pipeline body. */
function requestTypes(body: Buffer): string[] {
  try {
    const requests = (JSON.parse(body.toString("utf8")) as { requests?: unknown }).requests;
    return Array.isArray(requests) ? requests.map((r) => String((r as { type?: unknown } | null)?.type)) : [];
  } catch {
    return [];
  }
}

export async function startCountingProxy(target: string, options: { latencyMs?: number } = {}): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const stats: ProxyStats = { requests: 0, pipelines: 0, byShape: {}, serverMs: 0 };
  let fail = { count: 0, status: 503 };
  let drop: { count: number; when: "before" | "after" } = { count: 0, when: "before" };
  const shutdown = new AbortController();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const arrived = performance.now();
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const isPipeline = req.method === "POST" && PIPELINE.test(path);
    const info: ProxiedRequest = { method: req.method ?? "", path, status: null, requests: isPipeline ? requestTypes(body) : [] };
    stats.requests++;
    if (isPipeline) {
      stats.pipelines++;
      const shape = info.requests.join("+");
      stats.byShape[shape] = (stats.byShape[shape] ?? 0) + 1;
    }
    const done = (): void => {
      stats.serverMs += performance.now() - arrived;
      proxy.onRequest?.(info);
    };
    if (proxy.latencyMs > 0) await delay(proxy.latencyMs, undefined, { signal: shutdown.signal }).catch(() => undefined);
    let dropWhen: "before" | "after" | undefined;
    if (isPipeline && fail.count > 0) {
      fail.count--;
      info.status = fail.status;
      res.writeHead(fail.status, { "content-type": "text/plain" }).end("injected failure");
      return done();
    }
    if (isPipeline && drop.count > 0) {
      drop.count--;
      dropWhen = drop.when;
    }
    if (dropWhen === "before" || shutdown.signal.aborted) {
      res.destroy();
      return done();
    }
    const headers = { ...req.headers, host: upstream.host };
    const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | Error>((resolve) => {
      const out = http.request(
        { host: "127.0.0.1", port: upstream.port || 80, method: req.method, path: req.url, headers, agent },
        (upRes) => {
          const parts: Buffer[] = [];
          upRes.on("data", (d: Buffer) => parts.push(d));
          upRes.on("end", () => resolve({ status: upRes.statusCode ?? 502, headers: upRes.headers, body: Buffer.concat(parts) }));
          upRes.on("error", resolve);
        },
      );
      out.on("error", resolve);
      out.end(body);
    });
    if (answer instanceof Error || dropWhen === "after") {
      // The server is gone (killed, paused past the client's patience) or a drop was asked for:
      // the client sees its connection die, as it would without a proxy.
      res.destroy();
      return done();
    }
    info.status = answer.status;
    const { connection: _c, "keep-alive": _k, "transfer-encoding": _t, ...passed } = answer.headers;
    res.writeHead(answer.status, { ...passed, "content-length": answer.body.length }).end(answer.body);
    done();
  };

  const server = http.createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const proxy: CountingProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    latencyMs: options.latencyMs ?? 0,
    resetStats() {
      stats.requests = 0;
      stats.pipelines = 0;
      stats.byShape = {};
      stats.serverMs = 0;
    },
    failNext(n, status = 503) {
      fail = { count: n, status };
    },
    dropNext(n, when) {
      drop = { count: n, when };
    },
    onRequest: undefined,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        agent.destroy();
        await closed;
      })();
      return closing;
    },
  };
  return proxy;
}
