/**
 * The layout rules of src/, checked from the imports so that they stay true:
 * every import points down the layer list (peers on one layer don't import each other),
 * no file-level import cycle, no file over 400 lines unless its top comment says why,
 * and ARCHITECTURE.md and the README's Code map name every folder that exists.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./support/cli.ts";

const SRC = path.join(ROOT, "src");

/** Higher imports lower; the same number means peers, which must not import each other. */
const LAYERS: Record<string, number> = {
  "main.ts": 100,
  "index.ts": 100,
  cli: 90,
  commands: 80,
  deploy: 70,
  fleet: 70,
  lint: 70,
  rehearse: 70,
  runtime: 60,
  backup: 60,
  db: 50,
  autogenerate: 40,
  ddl: 30,
  script: 30,
  config: 20,
  output: 10,
  platform: 5,
  "errors.ts": 0,
  "build-info.ts": 0,
};

const MAX_LINES = 400;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** The top-level entry of src/ a file belongs to: its folder, or the file itself at the top. */
function unitOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]!;
}

/** Relative imports of a file (static, re-exports, type-only and dynamic), resolved to paths. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"/gms),
    ...text.matchAll(/^\s*import\s+"(\.[^"]+)"/gm),
    ...text.matchAll(/import\(\s*"(\.[^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
  return [...new Set(specs)].map((s) => path.resolve(path.dirname(file), s));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => path.relative(ROOT, f);

test("every top-level entry of src/ has a layer", () => {
  const units = [...new Set(files.map(unitOf))].sort();
  assert.deepEqual(units.filter((u) => !(u in LAYERS)), [], "add new folders to LAYERS (and ARCHITECTURE.md)");
});

test("imports point down the layers; peers don't import each other", () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    const from = unitOf(file);
    for (const target of imports) {
      assert.ok(fs.existsSync(target), `${rel(file)} imports ${rel(target)}, which does not exist`);
      const to = unitOf(target);
      if (from === to) continue;
      if (LAYERS[to]! >= LAYERS[from]!) wrong.push(`${rel(file)} (${from}, ${LAYERS[from]}) -> ${rel(target)} (${to}, ${LAYERS[to]})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("no import cycle between files", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, trail: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...trail.slice(trail.indexOf(f)), f].map(rel).join(" -> "));
      return;
    }
    state.set(f, "open");
    for (const g of graph.get(f) ?? []) if (graph.has(g)) visit(g, [...trail, f]);
    state.set(f, "done");
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test(`no file over ${MAX_LINES} lines unless its top comment says why`, () => {
  const long = files.filter((f) => {
    const text = fs.readFileSync(f, "utf8");
    const lines = text.split("\n").length;
    return lines > MAX_LINES && !/Over \d+ lines because/.test(text.split("\n").slice(0, 15).join("\n"));
  });
  assert.deepEqual(long.map(rel), []);
});

test("ARCHITECTURE.md and the README's Code map name every folder of src/", () => {
  const folders = [...new Set(files.map(unitOf))].filter((u) => !u.endsWith(".ts"));
  const architecture = fs.readFileSync(path.join(ROOT, "ARCHITECTURE.md"), "utf8");
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const codeMap = readme.slice(readme.indexOf("## Code map"), readme.indexOf("\n## ", readme.indexOf("## Code map") + 5));
  for (const folder of folders) {
    assert.match(architecture, new RegExp(`src/${folder}/`), `ARCHITECTURE.md names src/${folder}/`);
    assert.match(codeMap, new RegExp(`src/${folder}/`), `the README's Code map names src/${folder}/`);
  }
  for (const named of architecture.matchAll(/src\/([a-z-]+)\//g)) {
    assert.ok(folders.includes(named[1]!), `ARCHITECTURE.md names src/${named[1]}/, which does not exist`);
  }
});

test("the CLI is a client of the library: every verb function it calls is exported by src/index.ts", async () => {
  const api = await import("../src/index.ts");
  const called = new Set<string>();
  for (const f of files.filter((f) => unitOf(f) === "cli")) {
    const text = fs.readFileSync(f, "utf8");
    // Verbs are imported lazily, per verb, so that start-up loads only the verb that runs.
    for (const m of text.matchAll(/const \{ ([\w, ]+) \} = await import\("\.\.\/commands\/[\w-]+\.ts"\)/g)) {
      for (const name of m[1]!.split(",")) called.add(name.trim());
    }
    for (const m of text.matchAll(/const (\w+) = await import\("\.\.\/commands\/[\w-]+\.ts"\)/g)) {
      for (const use of text.matchAll(new RegExp(`\\b${m[1]}\\.(\\w+)`, "g"))) called.add(use[1]!);
    }
  }
  assert.ok(called.size >= 20, `found the CLI's verb calls (${[...called].join(", ")})`);
  assert.deepEqual([...called].filter((name) => typeof (api as Record<string, unknown>)[name] !== "function"), []);
});
