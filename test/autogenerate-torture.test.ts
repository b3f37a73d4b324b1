// Table-driven torture test: every pair in fixtures/torture/cases.ts goes
// before → up → down → up against real SQLite, under the engine's conditions.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compareSchemas, introspect, type Schema } from "../src/autogenerate/index.ts";
import { tortureCases, type TortureCase } from "./fixtures/torture/cases.ts";
import { applyMigration, assertRowsEqual, columnsOf, fileStatements, generate, rowsOf, scratch, structureOf } from "./fixtures/torture/harness.ts";

async function assertSchemaMatches(db: Parameters<typeof introspect>[0], expected: Schema, label: string, strictColumnOrder = false): Promise<void> {
  const diff = compareSchemas(await introspect(db), expected, { strictColumnOrder });
  assert.ok(diff.empty, `${label}: schema still differs: ${JSON.stringify(diff, null, 1)}`);
}

function rebuiltTables(up: string[]): string[] {
  return up
    .map((s) => /^ALTER TABLE "new_(.+)" RENAME TO/.exec(s)?.[1])
    .filter((t): t is string => t !== undefined)
    .sort();
}

async function runCase(c: TortureCase): Promise<void> {
  const db = await scratch(c.before, c.seed);
  const beforeRef = await scratch(c.before);
  const afterRef = await scratch(c.after);
  try {
    const options = { strictColumnOrder: c.strictColumnOrder === true };
    const structure = (d: Parameters<typeof structureOf>[0]) => structureOf(d, { ignoreColumnOrder: !options.strictColumnOrder });
    const { from, to, migration } = await generate(db, c.after, options);
    // Applied as the engine reads the files, so comments that leak into SQL fail here.
    const up = fileStatements(migration.up, migration.upStatements);
    const down = fileStatements(migration.down, migration.downStatements);
    assert.equal(migration.empty, false, "a changed schema must not be empty");
    assert.deepEqual(rebuiltTables(migration.upStatements), [...c.rebuild].sort(), `rebuilt tables\n${migration.up}`);
    for (const s of c.upContains ?? []) {
      if (typeof s === "string") assert.ok(migration.up.includes(s), `up lacks ${s}\n${migration.up}`);
      else assert.match(migration.up, s);
    }
    for (const s of c.upLacks ?? []) {
      if (typeof s === "string") assert.ok(!migration.up.includes(s), `up contains ${s}\n${migration.up}`);
      else assert.doesNotMatch(migration.up, s);
    }

    const beforeRows = await rowsOf(db);
    const beforeStructure = await structure(beforeRef);
    const afterStructure = await structure(afterRef);
    const changes = new Set((c.valuesChange ?? []).map((x) => x.toLowerCase()));
    const unchanged = (table: string, column: string) => !changes.has(`${table}.${column}`);

    // up
    await applyMigration(db, up).catch((e) => assert.fail(`up failed: ${e}\n${migration.up}`));
    assert.deepEqual(await structure(db), afterStructure, `structure after up\n${migration.up}`);
    await assertSchemaMatches(db, to, "after up", options.strictColumnOrder);
    assert.ok(assertRowsEqual(await rowsOf(db), beforeRows, unchanged) > 0, "no rows compared after up");
    await c.afterUp?.(db);

    // down: rows survive for tables/columns that exist before and after
    await applyMigration(db, down).catch((e) => assert.fail(`down failed: ${e}\n${migration.down}`));
    assert.deepEqual(await structure(db), beforeStructure, `structure after down\n${migration.down}`);
    await assertSchemaMatches(db, from, "after down", options.strictColumnOrder);
    const survived = columnsOf(to);
    const kept = Object.fromEntries(Object.entries(beforeRows).filter(([t]) => survived.has(t)));
    const keep = (t: string, col: string) => unchanged(t, col) && survived.get(t)!.has(col);
    assert.ok(assertRowsEqual(await rowsOf(db), kept, keep) > 0, "no rows compared after down");
    await c.afterDown?.(db);

    // up again
    await applyMigration(db, up).catch((e) => assert.fail(`second up failed: ${e}\n${migration.up}`));
    assert.deepEqual(await structure(db), afterStructure, "structure after second up");
    await assertSchemaMatches(db, to, "after second up", options.strictColumnOrder);
    await c.afterUp?.(db);
  } finally {
    db.close();
    beforeRef.close();
    afterRef.close();
  }
}

describe("autogenerate torture pairs", () => {
  test("there are at least 25 pairs", () => assert.ok(tortureCases.length >= 25));
  for (const c of tortureCases) test(c.name, () => runCase(c));
});
