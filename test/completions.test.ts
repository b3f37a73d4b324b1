/**
 * `strata completions bash|zsh|fish`: each script, run by its own shell, offers at every command
 * path every subverb, alias and option that the parser accepts there.
 *
 * What "accepted" means is read independently of src/cli/completions.ts: through cmd-ts's
 * register(), the hook the parser itself uses to learn the flag and option names, walking the
 * same VERBS record that buildCli() hands the parser. A verb or flag added to the CLI is thus
 * checked here without touching this file. zsh and fish are skipped when not installed.
 *
 *   node --import tsx --test test/completions.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { command, flag, option, string } from "cmd-ts";
import { VERBS } from "../src/cli/commands.ts";
import { completionScript, type CliNode, type Shell } from "../src/cli/completions.ts";
import { json, strata, tempDir } from "./support/cli.ts";

interface Names {
  forceFlagLongNames: Set<string>;
  forceFlagShortNames: Set<string>;
  forceOptionLongNames: Set<string>;
  forceOptionShortNames: Set<string>;
}
type Registering = CliNode & { register?(opts: Names): void };

interface Expected {
  /** Words typed after `strata`, e.g. ["fleet", "up"]. */
  path: string[];
  /** What must be offered there. */
  words: string[];
}

/** Every command path and what the parser accepts there, via register(). */
function expectations(cmds: Record<string, Registering>, parent: string[] = []): Expected[] {
  const out: Expected[] = [];
  for (const [name, node] of Object.entries(cmds)) {
    for (const spelled of [name, ...(node.aliases ?? [])]) {
      const path = [...parent, spelled];
      if (node.cmds) {
        const children = node.cmds as Record<string, Registering>;
        out.push({ path, words: Object.entries(children).flatMap(([n, c]) => [n, ...(c.aliases ?? [])]) });
        out.push(...expectations(children, path));
      } else {
        const names: Names = { forceFlagLongNames: new Set(), forceFlagShortNames: new Set(), forceOptionLongNames: new Set(), forceOptionShortNames: new Set() };
        node.register!(names);
        const words = [
          ...[...names.forceFlagLongNames, ...names.forceOptionLongNames].map((n) => `--${n}`),
          ...[...names.forceFlagShortNames, ...names.forceOptionShortNames].map((n) => `-${n}`),
          "--help",
          "-h",
        ];
        out.push({ path, words });
      }
    }
  }
  return out;
}

function installed(shell: string): boolean {
  return spawnSync(shell, ["-c", "exit 0"]).status === 0;
}

/**
 * Asks `shell` what it would offer after `strata <words…> ` (an empty word under the cursor), for
 * each query in one run; returns the offered words per query.
 */
function offered(shell: Shell, script: string, queries: string[][], cwd: string): string[][] {
  const file = path.join(cwd, `strata.${shell}`);
  fs.writeFileSync(file, script);
  const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  let program: string;
  if (shell === "bash") {
    program = [`source ${sq(file)}`, ...queries.map((q) => `echo @@; COMP_WORDS=(strata ${q.map(sq).join(" ")}); COMP_CWORD=${q.length}; COMPREPLY=(); _strata; printf '%s\\n' "\${COMPREPLY[@]}"`)].join("\n");
  } else if (shell === "zsh") {
    // Outside an interactive completion the widgets' helpers do not exist: stand-ins print what
    // they were given (_describe's 4th argument names the array of "word:description" items).
    program = [
      '_describe() { local i; for i in "${(@P)4}"; do [[ ${i%%:*} == $PREFIX* ]] && print -r -- "${i%%:*}"; done; return 0 }',
      "_files() { print -r -- '<files>' }",
      "compdef() { }",
      `source ${sq(file)}`,
      ...queries.map((q) => `echo @@; words=(strata ${q.map(sq).join(" ")}); CURRENT=${q.length + 1}; PREFIX=${sq(q.at(-1)!)}; _strata`),
    ].join("\n");
  } else {
    program = [`source ${sq(file)}`, ...queries.map((q) => `echo @@; complete -C ${sq(`strata ${q.join(" ")}`)}`)].join("\n");
  }
  const r = spawnSync(shell, ["-c", program], { cwd, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, `${shell} failed:\n${r.stderr}`);
  const blocks = r.stdout.split("@@\n").slice(1);
  assert.equal(blocks.length, queries.length, r.stdout);
  // fish prints "word<TAB>description".
  return blocks.map((b) => b.split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]!));
}

const SHELLS: Shell[] = ["bash", "zsh", "fish"];

describe("strata completions", () => {
  const cmds = VERBS as unknown as Record<string, Registering>;
  const expected = [{ path: [] as string[], words: Object.entries(cmds).flatMap(([n, c]) => [n, ...(c.aliases ?? [])]).concat(["help", "version", "--help", "--version"]) }, ...expectations(cmds)];

  test("the walk sees what the parser has: verbs, aliases, nested verbs, short flags", () => {
    const at = (p: string) => expected.find((e) => e.path.join(" ") === p)?.words ?? [];
    assert.ok(at("").includes("upgrade") && at("").includes("fleet") && at("").includes("completions"));
    assert.deepEqual(at("schema"), ["dump"]);
    assert.ok(at("fleet up").includes("--canary") && at("fleet up").includes("-j") && !at("fleet up").includes("--url"));
    assert.ok(at("up").includes("--dry-run") && at("up").includes("-q") && at("downgrade").includes("--to"));
    assert.ok(at("new").includes("-m"));
  });

  for (const shell of SHELLS) {
    test(`${shell}: every verb, alias and flag is offered where the parser accepts it`, (t) => {
      if (!installed(shell)) return t.skip(`${shell} is not installed`);
      const dir = tempDir(t, "strata-completions-");
      const script = completionScript(shell, VERBS as unknown as Record<string, CliNode>);
      const results = offered(shell, script, expected.map((e) => [...e.path, ""]), dir);
      // fish lists options only once a "-" is typed.
      const dashed = shell === "fish" ? offered(shell, script, expected.map((e) => [...e.path, "-"]), dir) : [];
      expected.forEach((e, i) => {
        const got = new Set([...results[i]!, ...(dashed[i] ?? [])]);
        const missing = e.words.filter((w) => !got.has(w));
        assert.deepEqual(missing, [], `strata ${e.path.join(" ")} <TAB> in ${shell} lacks ${missing.join(" ")}; offered: ${[...got].join(" ")}`);
      });
    });

    test(`${shell}: a prefix narrows, aliases complete like their verb, an option's value completes a file`, (t) => {
      if (!installed(shell)) return t.skip(`${shell} is not installed`);
      const dir = tempDir(t, "strata-completions-");
      fs.writeFileSync(path.join(dir, "calendar.db"), "");
      const script = completionScript(shell, VERBS as unknown as Record<string, CliNode>);
      const [fleetU, upgradeDr, afterUrl, afterRev] = offered(shell, script, [["fleet", "u"], ["upgrade", "--dr"], ["up", "--url", ""], ["up", "+1", "--dry"]], dir);
      assert.deepEqual(fleetU, ["up"]);
      assert.deepEqual(upgradeDr, ["--dry-run"]);
      // bash and fish list the files; the zsh stand-in for _files marks where zsh would.
      assert.ok(afterUrl!.includes("calendar.db") || afterUrl!.includes("<files>"), afterUrl!.join(" "));
      assert.ok(!afterUrl!.includes("--dry-run"));
      assert.deepEqual(afterRev, ["--dry-run"]);
    });
  }

  test("a verb or flag added to the definitions is completed without other changes", (t) => {
    if (!installed("bash")) return t.skip("bash is not installed");
    const added = command({ name: "zz-added", args: { f: flag({ long: "brand-new-flag" }), o: option({ type: string, long: "brand-new-option" }) }, handler: () => {} });
    const cmds = { ...(VERBS as unknown as Record<string, CliNode>), "zz-added": added as CliNode };
    const dir = tempDir(t, "strata-completions-");
    const [top, own] = offered("bash", completionScript("bash", cmds), [["zz"], ["zz-added", "--brand"]], dir);
    assert.deepEqual(top, ["zz-added"]);
    assert.deepEqual(own, ["--brand-new-flag", "--brand-new-option"]);
  });

  test("the CLI prints the script, --json wraps it, an unknown shell is a usage error", async () => {
    const bash = await strata(["completions", "bash"]);
    assert.equal(bash.code, 0, bash.stderr);
    assert.equal(bash.stdout, completionScript("bash", VERBS as unknown as Record<string, CliNode>));
    const asJson = await strata(["completions", "fish", "--json"]);
    assert.equal(asJson.code, 0, asJson.stderr);
    const body = json<{ ok: boolean; shell: string; script: string }>(asJson);
    assert.equal(body.ok, true);
    assert.equal(body.shell, "fish");
    assert.match(body.script, /^complete -c strata /m);
    const bad = await strata(["completions", "tcsh"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, "");
  });
});
