/**
 * Secret redaction. Auth tokens and URL passwords must never reach any output: URLs are
 * redacted before they are printed, and every line strata writes passes through
 * `redactSecrets` as a last guard.
 */

const secrets = new Set<string>();

/** Remember a secret so that any later output containing it is masked. */
export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < 4) return;
  secrets.add(secret);
  // The forms it takes when printed inside JSON or a URL.
  secrets.add(JSON.stringify(secret).slice(1, -1));
  secrets.add(encodeURIComponent(secret));
}

const TOKEN_PARAM = /([?&](?:authToken|auth_token|token|jwt)=)[^&#\s"'<>,;)]*/gi;
/**
 * user:password@ as URL parsers (and @libsql/client) read it: the authority runs to the first
 * `/`, `?` or `#`, and its userinfo to the LAST `@` in it — `p@ss` is one password.
 */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/?#\s"'<>\\]*@/gi;
const AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

/** Registers the password (and token parameters) of a URL strata was given, in every form. */
export function registerUrlSecrets(url: string | undefined): void {
  if (!url) return;
  // Without "://" there is no authority, without "=" no token parameter (a file path has neither).
  const authority = url.includes("://") ? AUTHORITY.exec(url)?.[1] : undefined;
  const at = authority?.lastIndexOf("@") ?? -1;
  if (authority && at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) {
      const written = userinfo.slice(colon + 1);
      registerSecret(written);
      registerSecret(percentDecode(written));
    }
  }
  if (!url.includes("=")) return;
  for (const m of url.matchAll(TOKEN_PARAM)) {
    const value = m[0].slice(m[1]!.length);
    registerSecret(value);
    registerSecret(percentDecode(value));
  }
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A URL safe to print: query tokens and user:password are replaced. */
export function redactUrl(url: string): string {
  registerUrlSecrets(url);
  return redactSecrets(url);
}

/** Mask registered secrets and token-looking URL parts anywhere in a text. */
export function redactSecrets(text: string): string {
  // Each pattern needs its literal ("=", "://"): a text without it (a 200-row status table) is not scanned.
  let out = text;
  if (out.includes("=")) out = out.replace(TOKEN_PARAM, "$1REDACTED");
  if (out.includes("://")) out = out.replace(USERINFO, "$1REDACTED@");
  // Longest first: a secret's JSON or URL form may contain another form of it.
  if (secrets.size === 0) return out;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("REDACTED");
  return out;
}
