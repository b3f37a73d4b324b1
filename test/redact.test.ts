/**
 * Passwords in URLs never reach any output (issue 21, item 4): URLs are read as the client reads
 * them (the LAST `@` ends the userinfo; percent-encoding), and the password is a registered
 * secret. The property test runs the CLI with random credentials against the real sqld.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { redactSecrets, redactUrl } from "../src/output/redact.ts";
import { strata, tempDir, writeFiles } from "./support/cli.ts";
import { rng as prng } from "./fixtures/property/generator.ts";
import { NO_SQLD, freePort, startSqld, type Sqld } from "./support/sqld.ts";

test("redactUrl: userinfo ends at the last @ of the authority; percent-encoded passwords; token parameters", () => {
  assert.equal(redactUrl("http://u:p@ss@Wrd99@db.example:8080/x?authToken=abc.def"), "http://REDACTED@db.example:8080/x?authToken=REDACTED");
  assert.equal(redactUrl("libsql://me:s%40cr%3At@db.turso.io"), "libsql://REDACTED@db.turso.io");
  assert.equal(redactUrl("wss://db.example/path@not-userinfo"), "wss://db.example/path@not-userinfo");
  // Registered: the password is masked wherever it shows up later, decoded or not.
  assert.equal(redactSecrets("auth failed for p@ss@Wrd99 and s@cr:t"), "auth failed for REDACTED and REDACTED");
  assert.equal(redactSecrets(`{"password":"s@cr:t"}`), `{"password":"REDACTED"}`);
  // A URL inside compact JSON is redacted without swallowing the next field.
  assert.equal(redactSecrets(`{"a":"http://host","b":"c@d"}`), `{"a":"http://host","b":"c@d"}`);
});

const PIECES = ["@", ":", "%40", "é", "密码", "😀", "!", "$", "&", "'", "(", "*", "+", ",", ";", "=", "~", "-", "_", "."];
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** A random password: letter runs between special pieces, as people (and generators) write them. */
function randomPassword(rand: () => number): string {
  let pw = "";
  while (pw.length < 14) {
    const run = 4 + Math.floor(rand() * 4);
    for (let i = 0; i < run; i++) pw += LETTERS[Math.floor(rand() * LETTERS.length)];
    pw += PIECES[Math.floor(rand() * PIECES.length)];
  }
  return pw;
}

/** How it is written in a URL: what must be encoded is, `@` `:` and non-ASCII only sometimes. */
function writePassword(pw: string, rand: () => number): string {
  return [...pw]
    .map((c) => {
      if (c === "%" || c === "/" || c === "?" || c === "#") return encodeURIComponent(c);
      if ((c === "@" || c === ":" || c.charCodeAt(0) > 127) && rand() < 0.5) return encodeURIComponent(c);
      return c;
    })
    .join("");
}

/** Every form of the password that would count as a leak, and its parts around @ and : (a partial leak). */
function forbidden(pw: string, written: string): string[] {
  const forms = new Set([pw, written, encodeURIComponent(pw), JSON.stringify(pw).slice(1, -1)]);
  for (const part of pw.split(/[@:]|%40/)) if (part.length >= 4) forms.add(part);
  return [...forms];
}

let server: Sqld | undefined;
before(async () => {
  if (!NO_SQLD) server = await startSqld({ namespaces: true });
});
after(() => server?.stop());

test("property: random URL passwords appear in no output (stdout, stderr, --json, audit rows, backup manifest, dump header, errors)", { skip: NO_SQLD }, async (t) => {
  // A failure names its seed; REDACT_SEED=N reproduces it.
  const seed = Number(process.env.REDACT_SEED ?? Date.now() % 100_000);
  const rand = prng(seed);
  const closedPort = await freePort();
  const cases = await Promise.all(
    [0, 1, 2].map(async () => {
      const db = await server!.freshDatabase(t);
      const pw = randomPassword(rand);
      const written = writePassword(pw, rand);
      const user = ["admin", "us@er", "ops:team"][Math.floor(rand() * 3)]!.replace(":", "%3A");
      return { db, pw, written, url: db.url.replace(/^http:\/\//, `ws://${user}:${written}@`), user };
    }),
  );
  await Promise.all(
    cases.map(async (c) => {
      const dir = tempDir(t);
      writeFiles(path.join(dir, "migrations"), {
        "001_a.up.sql": "CREATE TABLE a (x);\n",
        "001_a.down.sql": "DROP TABLE a;\n",
        // A migration that fails with the URL in its message: error output and the audit row.
        "002_b.ts": `export async function up(tx) {\n  throw new Error("cannot reach " + process.env.DATABASE_URL);\n}\n`,
      });
      writeFiles(dir, { "package.json": `{ "type": "module" }\n` });
      const env = { DATABASE_URL: c.url, DATABASE_AUTH_TOKEN: c.db.token };
      const outputs: string[] = [];
      const run = async (args: string[], expected: number) => {
        const r = await strata(args, { cwd: dir, env });
        assert.equal(r.code, expected, `seed ${seed}: strata ${args.join(" ")}: ${r.stderr}`);
        outputs.push(`$ strata ${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
        return r;
      };
      await run(["up", "--json", "--verbose"], 1);
      await run(["status"], 0);
      await run(["history", "--log", "--json"], 0);
      const backup = JSON.parse((await run(["backup", "--json"], 0)).stdout) as { path: string; manifest: string };
      outputs.push(fs.readFileSync(backup.manifest, "utf8"), fs.readFileSync(backup.path, "utf8").slice(0, 4000));
      await run(["schema", "dump", "--out", path.join(dir, "dump.sql")], 0);
      outputs.push(fs.readFileSync(path.join(dir, "dump.sql"), "utf8"));
      const log = await c.db.client.execute("SELECT command, result, message FROM strata_migrations_log");
      outputs.push(JSON.stringify(log.rows));
      assert.ok(log.rows.some((r) => r.result === "error" && String(r.message).includes("cannot reach")), "the failure is in the audit log");
      // An unreachable server: the error names the URL.
      const unreachable = c.url.replace(/:\d+$/, `:${closedPort}`);
      const r = await strata(["status", "--json", "--verbose", "--url", unreachable], { cwd: dir, env });
      assert.notEqual(r.code, 0);
      outputs.push(r.stdout, r.stderr);

      const all = outputs.join("\n");
      assert.match(all, /REDACTED@/, "URLs are printed, redacted");
      for (const secret of forbidden(c.pw, c.written)) {
        assert.ok(!all.includes(secret), `seed ${seed}: "${secret}" (from password ${JSON.stringify(c.pw)} written ${c.written}) leaked:\n${excerpt(all, secret)}`);
      }
    }),
  );
});

function excerpt(text: string, needle: string): string {
  const i = text.indexOf(needle);
  return text.slice(Math.max(0, i - 200), i + needle.length + 200);
}
