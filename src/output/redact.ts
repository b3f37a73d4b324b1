/**
 * Secret redaction. Auth tokens must never reach any output: URLs are redacted before they are
 * printed, and every line strata writes passes through `redactSecrets` as a last guard.
 */

const secrets = new Set<string>();

/** Remember a secret so that any later output containing it is masked. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) secrets.add(secret);
}

const TOKEN_PARAM = /([?&](?:authToken|auth_token|token|jwt)=)[^&#\s"'<>,;)]*/gi;
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi;

/** A URL safe to print: query tokens and user:password are replaced. */
export function redactUrl(url: string): string {
  return redactSecrets(url.replace(TOKEN_PARAM, "$1REDACTED").replace(USERINFO, "$1REDACTED@"));
}

/** Mask registered secrets and token-looking URL parts anywhere in a text. */
export function redactSecrets(text: string): string {
  let out = text.replace(TOKEN_PARAM, "$1REDACTED").replace(USERINFO, "$1REDACTED@");
  for (const s of secrets) out = out.split(s).join("REDACTED");
  return out;
}
