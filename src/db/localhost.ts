/**
 * `NAME.localhost` is loopback (RFC 6761), and sqld serves its namespaces there
 * (`http://tenant.localhost:8080`). Bun and curl resolve such names themselves; Node's resolver
 * asks the system, which usually knows only `localhost`. So, on Node, names under `.localhost`
 * are looked up as `localhost` — nothing else is touched, and only once a URL needs it.
 */
import dns from "node:dns";

const SUBDOMAIN = /\.localhost\.?$/i;
let installed = false;

export function resolveLocalhostSubdomains(url: string): void {
  if (installed) return;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return;
  }
  if (!SUBDOMAIN.test(host) || "Bun" in globalThis) return;
  installed = true;
  const lookup = dns.lookup;
  const patched = function (this: unknown, hostname: string, ...rest: unknown[]) {
    return (lookup as (...a: unknown[]) => unknown).call(this, typeof hostname === "string" && SUBDOMAIN.test(hostname) ? "localhost" : hostname, ...rest);
  };
  (dns as { lookup: unknown }).lookup = patched;
}
