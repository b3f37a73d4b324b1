/**
 * The fleet's targets: database URLs from a targets file (`--targets FILE`, `-` for stdin) or
 * from strata.toml (`targets = "FILE"`, `[[fleet]]` tables). A targets file holds one URL per
 * line, `#` comments and blank lines, and optionally `token_file=PATH` after the URL for a
 * database with its own token. Relative paths are resolved against the file's folder.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { StrataError, messageOf } from "../errors.ts";
import { normalizeUrl, type FleetConfig } from "../config/settings.ts";
import { redactUrl, registerSecret } from "../output/redact.ts";

export interface Target {
  /** Normalized URL (secret: may carry authToken=). */
  url: string;
  /** Redacted URL: the target's name in every output. */
  display: string;
  /** Token file for this database alone; otherwise the usual auth settings apply. */
  tokenFile: string | undefined;
  /** Where the target was listed: `FILE:LINE` (or `<stdin>:LINE`). */
  origin: string;
}

const TARGET_KEYS = ["token_file"];

/** Parses a targets file's text. `source` names it in errors; `baseDir` resolves relative paths. */
export function parseTargets(text: string, source: string, baseDir: string): Target[] {
  const targets: Target[] = [];
  const seen = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const origin = `${source}:${i + 1}`;
    // A comment starts a line or follows whitespace (a URL may contain `#`).
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") return;
    const [first, ...rest] = line.split(/\s+/);
    let tokenFile: string | undefined;
    for (const part of rest) {
      const eq = part.indexOf("=");
      const key = eq > 0 ? part.slice(0, eq) : part;
      if (!TARGET_KEYS.includes(key) || eq === part.length - 1) {
        throw new StrataError("usage", `unexpected "${redactUrl(part)}" after the URL`, {
          file: source,
          line: i + 1,
          hint: "one database URL per line, optionally followed by token_file=PATH",
        });
      }
      tokenFile = path.resolve(baseDir, part.slice(eq + 1));
    }
    targets.push(makeTarget(first!, tokenFile, baseDir, origin, seen));
  });
  return targets;
}

function makeTarget(rawUrl: string, tokenFile: string | undefined, baseDir: string, origin: string, seen: Map<string, string>): Target {
  let url: string;
  try {
    url = normalizeUrl(rawUrl, baseDir);
  } catch (e) {
    throw new StrataError("usage", `${messageOf(e)} (target ${origin})`, { hint: e instanceof StrataError ? e.hint : undefined });
  }
  registerSecret(new URL(url, "file:/").searchParams.get("authToken") ?? undefined);
  const display = redactUrl(url);
  const first = seen.get(url);
  if (first !== undefined) {
    throw new StrataError("usage", `target ${display} is listed twice (${first} and ${origin})`, { hint: "list each database once" });
  }
  seen.set(url, origin);
  return { url, display, tokenFile, origin };
}

export interface TargetSource {
  /** `--targets FILE`, `-` for stdin. */
  targets?: string | undefined;
  /** From strata.toml. */
  config?: FleetConfig | undefined;
  /** Reads stdin for `-` (tests pass the text). */
  readStdin?: () => string;
  cwd?: string;
}

/** The fleet's targets, from --targets or strata.toml (in that order); at least one. */
export function loadTargets(source: TargetSource): Target[] {
  const cwd = source.cwd ?? process.cwd();
  let targets: Target[];
  if (source.targets === "-") {
    targets = parseTargets((source.readStdin ?? (() => fs.readFileSync(0, "utf8")))(), "<stdin>", cwd);
  } else if (source.targets !== undefined) {
    targets = readTargetsFile(path.resolve(cwd, source.targets));
  } else if (source.config && "targetsFile" in source.config) {
    targets = readTargetsFile(source.config.targetsFile);
  } else if (source.config) {
    const base = path.dirname(source.config.configFile);
    const seen = new Map<string, string>();
    targets = source.config.entries.map((e, i) =>
      makeTarget(e.url, e.tokenFile === undefined ? undefined : path.resolve(base, e.tokenFile), base, `${source.config!.configFile} [[fleet]] #${i + 1}`, seen),
    );
  } else {
    throw new StrataError("config", "no fleet targets given", {
      hint: 'pass --targets FILE (or - for stdin), or add targets = "FILE" or [[fleet]] url = "…" to strata.toml',
    });
  }
  if (targets.length === 0) {
    throw new StrataError("config", "the targets list is empty", { hint: "list one database URL per line" });
  }
  return targets;
}

function readTargetsFile(file: string): Target[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new StrataError("config", `cannot read targets file ${file}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`, {
      hint: "check the --targets path (or targets = … in strata.toml)",
    });
  }
  return parseTargets(text, file, path.dirname(file));
}

/** The target's own token, read from its token file (registered as a secret). */
export function readTargetToken(target: Target): string | undefined {
  if (target.tokenFile === undefined) return undefined;
  let token: string;
  try {
    token = fs.readFileSync(target.tokenFile, "utf8").trim();
  } catch (e) {
    throw new StrataError("config", `cannot read token file ${target.tokenFile} of ${target.display}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`, {
      hint: `check token_file= for ${target.origin}`,
    });
  }
  registerSecret(token);
  return token;
}
