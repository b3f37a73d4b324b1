// Unit and behaviour tests for autogenerate: introspection, comparison,
// rendering, failure modes under the engine's conditions, rebuildTableSql on
// its own, and dumpSchema.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  byName,
  compareSchemas,
  dumpSchema,
  introspect,
  normalizeSql,
  rebuildTableSql,
  renderMigration,
  type CompareOptions,
  type RebuildReasonKind,
  type Schema,
  unenforceableForeignKeys,
} from "../src/autogenerate/index.ts";
import { parseCreateIndex, parseCreateTable } from "../src/ddl/parse.ts";
import { rng } from "./fixtures/property/generator.ts";
import { applyMigration, fileStatements, generate, rowsOf, scratch, structureOf } from "./fixtures/torture/harness.ts";

async function schemaOf(sql: string): Promise<Schema> {
  const db = await scratch(sql);
  try {
    return await introspect(db);
  } finally {
    db.close();
  }
}

async function diffOf(before: string, after: string, options: CompareOptions = {}) {
  return compareSchemas(await schemaOf(before), await schemaOf(after), options);
}

async function rebuildKinds(before: string, after: string, options: CompareOptions = {}): Promise<RebuildReasonKind[]> {
  const diff = await diffOf(before, after, options);
  return diff.tables.flatMap((t) => t.ops.flatMap((op) => (op.kind === "rebuildTable" ? op.reasons.map((r) => r.kind) : [])));
}

describe("normalizeSql", () => {
  test("ignores whitespace, comments, keyword case, quoting and IF NOT EXISTS", () => {
    assert.equal(
      normalizeSql(`create table if not exists "Users" ( -- people\n  id INTEGER /* pk */ primary key, [Name] text )`),
      normalizeSql("CREATE TABLE users (id integer PRIMARY KEY, `name` TEXT);"),
    );
  });

  test("keeps string literals exact", () => {
    assert.notEqual(normalizeSql("SELECT 'A'"), normalizeSql("SELECT 'a'"));
    assert.notEqual(normalizeSql("SELECT 'a  b'"), normalizeSql("SELECT 'a b'"));
  });
});

describe("parseCreateTable / parseCreateIndex", () => {
  test("column definitions with awkward constraints", () => {
    const t = parseCreateTable(`CREATE TABLE IF NOT EXISTS main."my ""t""" (
      a NUMERIC(10, 2) NOT NULL ON CONFLICT FAIL DEFAULT -1,
      b DOUBLE PRECISION DEFAULT (datetime('now')) COLLATE "NoCase",
      c INTEGER CONSTRAINT fk_c REFERENCES p(id) ON DELETE SET NULL ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED NOT NULL,
      d CONSTRAINT pk PRIMARY KEY DESC ON CONFLICT REPLACE,
      e AS (a + 1) STORED NOT NULL,
      f TEXT CHECK (f IN ('x, y', ')')) UNIQUE,
      CONSTRAINT two CHECK (a > 0), FOREIGN KEY (a, b) REFERENCES q(x, y)
    ) STRICT, WITHOUT ROWID`);
    assert.equal(t.name, 'my "t"');
    assert.deepEqual(t.options, ["STRICT", "WITHOUT ROWID"]);
    const [a, b, c, d, e, f] = t.columns;
    assert.deepEqual([a.name, a.type, a.notNull, a.defaultExpr], ["a", "NUMERIC(10, 2)", true, "-1"]);
    assert.deepEqual([b.type, b.defaultExpr, b.collation], ["DOUBLE PRECISION", "(datetime('now'))", "NoCase"]);
    assert.equal(c.references, "REFERENCES p(id) ON DELETE SET NULL ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED");
    assert.equal(c.notNull, true);
    assert.deepEqual([d.type, d.primaryKey], ["", true]);
    assert.deepEqual([e.generated, e.notNull], [{ expr: "a + 1", stored: true }, true]);
    assert.deepEqual([f.checks, f.unique], [["CHECK (f IN ('x, y', ')'))"], true]);
    assert.deepEqual(t.constraints.map((k) => [k.kind, k.columns]), [["check", []], ["foreign key", ["a", "b"]]]);
  });

  test("index terms and partial WHERE", () => {
    const i = parseCreateIndex(`CREATE UNIQUE INDEX IF NOT EXISTS "ix" ON "t" (lower(a), b COLLATE nocase DESC) WHERE a IS NOT NULL AND b <> ','`);
    assert.deepEqual(i, { name: "ix", table: "t", unique: true, terms: ["lower(a)", "b COLLATE nocase DESC"], where: "a IS NOT NULL AND b <> ','" });
  });
});

describe("introspect", () => {
  const ddl = `
    CREATE TABLE parents (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE COLLATE NOCASE);
    CREATE TABLE kids (
      id INTEGER PRIMARY KEY,
      parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE ON UPDATE SET NULL,
      qty INTEGER DEFAULT 0 CHECK (qty >= 0),
      twice INTEGER GENERATED ALWAYS AS (qty * 2) STORED,
      half REAL AS (qty / 2.0),
      CHECK (id > 0)
    ) STRICT;
    CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) WITHOUT ROWID;
    CREATE INDEX kids_live ON kids(parent_id) WHERE qty > 0;
    CREATE INDEX kids_expr ON kids(lower(qty), id DESC);
    CREATE VIEW kid_count AS SELECT parent_id, count(*) AS n FROM kids GROUP BY parent_id;
    CREATE TRIGGER kids_ai AFTER INSERT ON kids BEGIN SELECT 1; END;
    CREATE TABLE strata_migrations (id INTEGER);
    CREATE TABLE _litestream_seq (id INTEGER);
    CREATE VIRTUAL TABLE docs USING fts5(title, body);
    INSERT INTO parents (code) VALUES ('a');`;

  test("reads tables, columns, constraints, indexes, views and triggers", async () => {
    const s = await schemaOf(ddl);
    assert.deepEqual(s.tables.map((t) => t.name), ["docs", "kids", "kv", "parents"]);
    const kids = byName(s.tables, "kids")!;
    assert.equal(kids.strict, true);
    assert.equal(byName(s.tables, "kv")!.withoutRowid, true);
    assert.equal(byName(s.tables, "parents")!.autoincrement, true);
    assert.equal(byName(byName(s.tables, "parents")!.columns, "code")!.collation, "NOCASE");
    assert.equal(byName(byName(s.tables, "parents")!.columns, "code")!.unique, true);
    const col = (n: string) => byName(kids.columns, n)!;
    assert.deepEqual(
      { type: col("parent_id").type, notNull: col("parent_id").notNull, pk: col("id").pk, dflt: col("qty").defaultValue },
      { type: "INTEGER", notNull: true, pk: 1, dflt: "0" },
    );
    assert.equal(col("twice").generated, "stored");
    assert.equal(col("twice").generatedExpr, "qty * 2");
    assert.equal(col("half").generated, "virtual");
    assert.deepEqual(kids.checks, ["CHECK (qty >= 0)", "CHECK (id > 0)"]);
    assert.deepEqual(kids.foreignKeys, [
      { id: 0, table: "parents", from: ["parent_id"], to: ["id"], onUpdate: "SET NULL", onDelete: "CASCADE", match: "NONE" },
    ]);
    assert.deepEqual(s.indexes.map((i) => i.name), ["kids_expr", "kids_live"]); // no sqlite_autoindex_*
    const live = byName(s.indexes, "kids_live")!;
    assert.equal(live.partial, "qty > 0");
    const expr = byName(s.indexes, "kids_expr")!;
    assert.deepEqual(expr.columns.map((c) => [c.name, c.expression, c.desc]), [
      [null, "lower(qty)", false],
      ["id", null, true],
    ]);
    assert.deepEqual(s.views.map((v) => v.name), ["kid_count"]);
    assert.deepEqual(s.triggers.map((t) => [t.name, t.table]), [["kids_ai", "kids"]]);
  });

  test("works through a Transaction as well as a Client", async () => {
    const db = await scratch(ddl);
    const viaClient = await introspect(db);
    const tx = await db.transaction("read");
    try {
      assert.deepEqual(await introspect(tx), viaClient);
    } finally {
      tx.close();
      db.close();
    }
  });

  test("ignores sqlite_*, strata_*, _litestream* and fts shadow tables", async () => {
    const s = await schemaOf(ddl);
    const names = [...s.tables, ...s.indexes, ...s.views, ...s.triggers].map((o) => o.name);
    for (const n of names) assert.doesNotMatch(n, /^(sqlite_|strata_|_litestream|docs_)/);
    assert.equal(byName(s.tables, "docs")!.virtual, true);
  });
});

describe("compareSchemas", () => {
  test("cosmetic differences are not a diff → empty migration", async () => {
    const a = `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x');
               CREATE INDEX t_name ON t(name);
               CREATE VIEW v AS SELECT name FROM t;
               CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;`;
    const b = `create table if not exists "t" ( "id" integer primary key,
                 [name] text not null default 'x' ); -- comment
               CREATE INDEX IF NOT EXISTS "t_name" ON "t" ( "name" );
               create view "v" as select "name" from "t";
               create trigger tr after insert on t begin select 1; end;`;
    const from = await schemaOf(a);
    const to = await schemaOf(b);
    const diff = compareSchemas(from, to);
    assert.equal(diff.empty, true, JSON.stringify(diff));
    const m = renderMigration(diff, from, to);
    assert.equal(m.empty, true);
    assert.deepEqual([m.upStatements, m.downStatements, m.summary], [[], [], []]);
    assert.match(m.up, /-- no changes/);
  });

  test("identical schemas are empty", async () => {
    const sql = "CREATE TABLE t (a INTEGER); CREATE INDEX ta ON t(a);";
    assert.equal((await diffOf(sql, sql)).empty, true);
  });

  const base = "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, p INTEGER);";
  const cases: [string, string, RebuildReasonKind][] = [
    ["type", "CREATE TABLE t (id INTEGER PRIMARY KEY, a REAL, b TEXT, p INTEGER);", "type"],
    ["not null", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL DEFAULT 1, b TEXT, p INTEGER);", "notnull"],
    ["check", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER CHECK (a > 0), b TEXT, p INTEGER);", "check"],
    ["fk", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, p INTEGER REFERENCES t(id));", "fk"],
    ["unique", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER UNIQUE, b TEXT, p INTEGER);", "unique"],
    ["collate", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT COLLATE NOCASE, p INTEGER);", "collate"],
    ["pk", "CREATE TABLE t (id INTEGER, a INTEGER, b TEXT, p INTEGER, PRIMARY KEY (id, a));", "pk"],
    ["strict", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, p INTEGER) STRICT;", "strict"],
    ["without rowid", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, p INTEGER) WITHOUT ROWID;", "without rowid"],
    ["generated", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER AS (id + 1), b TEXT, p INTEGER);", "generated"],
    ["autoincrement", "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a INTEGER, b TEXT, p INTEGER);", "autoincrement"],
  ];
  for (const [label, after, kind] of cases) {
    test(`rebuild reason: ${label}`, async () => {
      assert.ok((await rebuildKinds(base, after)).includes(kind), `expected ${kind}`);
    });
  }

  test("column order: compared only with strictColumnOrder", async () => {
    const reordered = "CREATE TABLE t (id INTEGER PRIMARY KEY, b TEXT, a INTEGER, p INTEGER);";
    assert.equal((await diffOf(base, reordered)).empty, true);
    assert.deepEqual(await rebuildKinds(base, reordered, { strictColumnOrder: true }), ["column order"]);
    const midAdd = "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, n TEXT, b TEXT, p INTEGER);";
    assert.deepEqual((await diffOf(base, midAdd)).tables[0]!.ops, [{ kind: "addColumn", column: "n" }]);
    assert.deepEqual(await rebuildKinds(base, midAdd, { strictColumnOrder: true }), ["column order"]);
  });

  test("a DEFAULT change is done in place with libSQL's ALTER COLUMN; the spelling of a default is not a change", async () => {
    const diff = await diffOf(base, "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER DEFAULT 3, b TEXT, p INTEGER);");
    assert.deepEqual(diff.tables[0]!.ops.map((o) => o.kind), ["alterColumn"]);
    const spellings = ['"x"', "x", "[x]", "`x`", "'x'"];
    for (const d of spellings) {
      assert.equal((await diffOf(`CREATE TABLE t (a TEXT DEFAULT ${d})`, "CREATE TABLE t (a TEXT DEFAULT 'x')")).empty, true, d);
    }
    assert.equal((await diffOf("CREATE TABLE t (a DEFAULT true)", "CREATE TABLE t (a DEFAULT 1)")).empty, true);
  });

  test("drops that SQLite cannot do in place need a rebuild, with the reason", async () => {
    const blocked: [string, string, RegExp][] = [
      ["CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE)", "CREATE TABLE t (id INTEGER PRIMARY KEY)", /UNIQUE/],
      ["CREATE TABLE t (a INTEGER, b INTEGER, PRIMARY KEY (a, b))", "CREATE TABLE t (a INTEGER PRIMARY KEY)", /PRIMARY KEY/],
      ["CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER, x INTEGER, FOREIGN KEY (x) REFERENCES p(id))",
        "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER)", /FOREIGN KEY/],
      ["CREATE TABLE t (id INTEGER, a INTEGER, g INTEGER AS (a * 2))", "CREATE TABLE t (id INTEGER, g INTEGER AS (2))",
        /generated column "g" uses it/],
      ["CREATE TABLE t (id INTEGER, a INTEGER, CHECK (a > id))", "CREATE TABLE t (id INTEGER, CHECK (id > 0))", /used by a CHECK constraint/],
      ["CREATE TABLE t (id INTEGER CHECK (id <> a), a INTEGER)", "CREATE TABLE t (id INTEGER CHECK (id > 0))", /CHECK on "id" uses it/],
    ];
    for (const [before, after, why] of blocked) {
      const diff = await diffOf(before, after);
      const op = diff.tables.flatMap((t) => t.ops).find((o) => o.kind === "rebuildTable");
      assert.ok(op && op.kind === "rebuildTable", `rebuild expected for ${after}`);
      assert.ok(op.reasons.some((r) => r.kind === "drop column" && why.test(r.detail)), JSON.stringify(op.reasons));
    }
  });

  test("ADD COLUMN that SQLite refuses needs a rebuild, with the statement and why", async () => {
    const before = "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (a INTEGER);";
    const blocked: [string, RegExp][] = [
      ["n INTEGER PRIMARY KEY", /it is part of the PRIMARY KEY/],
      ["n TEXT UNIQUE", /it has a UNIQUE constraint/],
      ["n INTEGER AS (a * 2) STORED", /it is a STORED generated column/],
      ["n INTEGER DEFAULT (1 + 2)", /its default 1 \+ 2 is an expression/],
      ["n TEXT DEFAULT CURRENT_TIMESTAMP", /its default CURRENT_TIMESTAMP is an expression/],
      ["n TEXT NOT NULL", /NOT NULL needs a non-NULL default/],
      ["n INTEGER DEFAULT 1 REFERENCES p(id)", /a REFERENCES column must default to NULL/],
      ["n REAL NOT NULL DEFAULT 0.5 CHECK (n > 0)", /false NOT NULL failure/],
    ];
    for (const [column, why] of blocked) {
      const diff = await diffOf(before, `CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (a INTEGER, ${column});`);
      const op = diff.tables.flatMap((t) => t.ops).find((o) => o.kind === "rebuildTable");
      assert.ok(op && op.kind === "rebuildTable", `rebuild expected for ${column}`);
      assert.equal(op.reasons.length, 1, JSON.stringify(op.reasons));
      assert.equal(op.reasons[0]!.kind, "add column");
      assert.ok(op.reasons[0]!.detail.startsWith(`SQLite refuses ALTER TABLE "t" ADD COLUMN ${column}: `), op.reasons[0]!.detail);
      assert.match(op.reasons[0]!.detail, why);
    }
    // And what it accepts stays in place: a virtual generated column, a constant default, NULL-default REFERENCES, a CHECK.
    for (const column of ["n INTEGER AS (a * 2)", "n TEXT NOT NULL DEFAULT 'x'", "n INTEGER REFERENCES p(id)", "n INTEGER CHECK (n > 0)", "n REAL NOT NULL DEFAULT 2.0 CHECK (n > 0)"]) {
      const diff = await diffOf(before, `CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (a INTEGER, ${column});`);
      assert.deepEqual(diff.tables.flatMap((t) => t.ops), [{ kind: "addColumn", column: "n" }], column);
    }
  });

  test("rebuild reason: any other change of a column definition (ON CONFLICT clause)", async () => {
    const kinds = await rebuildKinds("CREATE TABLE t (a INTEGER NOT NULL DEFAULT 1)", "CREATE TABLE t (a INTEGER NOT NULL ON CONFLICT REPLACE DEFAULT 1)");
    assert.deepEqual(kinds, ["definition"]);
  });

  test("a dropped column whose index is dropped too is dropped in place", async () => {
    const diff = await diffOf("CREATE TABLE t (a INTEGER, b INTEGER); CREATE INDEX tb ON t(b);", "CREATE TABLE t (a INTEGER);");
    assert.deepEqual(diff.tables[0].ops, [{ kind: "dropColumn", column: "b" }, { kind: "dropIndex", index: "tb" }]);
  });

  test("renames are never guessed, only noted", async () => {
    const diff = await diffOf("CREATE TABLE t (a INTEGER, old TEXT); CREATE TABLE x (id INTEGER);",
      "CREATE TABLE t (a INTEGER, new TEXT); CREATE TABLE y (id INTEGER);");
    const t = byName(diff.tables.map((d) => ({ ...d, name: d.table })), "t")!;
    assert.deepEqual(t.ops, [{ kind: "addColumn", column: "new" }, { kind: "dropColumn", column: "old" }]);
    assert.deepEqual(t.renameCandidates, [{ from: "old", to: "new" }]);
    assert.match(diff.notes.join("\n"), /"x".*"y".*rename/);
  });

  test("an index whose SQL changed is dropped and recreated", async () => {
    const diff = await diffOf("CREATE TABLE t (a, b); CREATE INDEX i ON t(a);", "CREATE TABLE t (a, b); CREATE INDEX i ON t(a, b);");
    assert.deepEqual(diff.tables[0].ops, [{ kind: "dropIndex", index: "i" }, { kind: "createIndex", index: "i" }]);
  });

  test("a changed virtual table is recreated; the note says whether its contents are kept", async () => {
    const cases: [string, string, RegExp][] = [
      ["fts5(a)", "fts5(a, b)", /rows copied/],
      ["fts5(body, content='docs')", "fts5(body, content='docs', tokenize='porter')", /index rebuilt from its content table/],
      ["fts5(a, content='')", "fts5(a, b, content='')", /contents are not copied \(a contentless fts table/],
      ["fts5(a)", "fts4(a)", /contents are not copied \(the module changes \(fts5 → fts4\)\)/],
      ["fts5(a)", "fts5(b)", /rows copied/],
    ];
    for (const [a, b, note] of cases) {
      const diff = await diffOf(`CREATE TABLE docs (body TEXT); CREATE VIRTUAL TABLE d USING ${a};`, `CREATE TABLE docs (body TEXT); CREATE VIRTUAL TABLE d USING ${b};`);
      assert.deepEqual(diff.tables.flatMap((t) => t.ops), [{ kind: "recreateVirtual" }], b);
      assert.match(diff.tables.flatMap((t) => t.notes)[0] ?? "", note, b);
    }
    // A case-only rename is done in place, contents and all.
    const db = await scratch("CREATE VIRTUAL TABLE notes USING fts5(body);", "INSERT INTO notes (rowid, body) VALUES (4, 'kept');");
    const { migration } = await generate(db, "CREATE VIRTUAL TABLE Notes USING fts5(body);");
    await applyMigration(db, fileStatements(migration.up, migration.upStatements));
    assert.deepEqual((await db.execute("SELECT name FROM sqlite_schema WHERE name LIKE 'notes'")).rows.map((r) => r.name), ["Notes"]);
    assert.deepEqual((await db.execute("SELECT rowid, body FROM Notes WHERE Notes MATCH 'kept'")).rows.map((r) => [r.rowid, r.body]), [[4, "kept"]]);
    db.close();
  });
});

describe("renderMigration", () => {
  test("never emits transaction control or foreign_keys pragmas; has header and per-table comments", async () => {
    const db = await scratch("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id REFERENCES p(id) ON DELETE CASCADE, x);");
    const { migration: m } = await generate(db, "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT ''); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id REFERENCES p(id) ON DELETE CASCADE, x TEXT);");
    for (const text of [m.up, m.down]) {
      const sql = text.split("\n").filter((l) => !l.startsWith("--")).join("\n");
      assert.doesNotMatch(sql, /\b(BEGIN|COMMIT)\b|PRAGMA/i);
      assert.match(text, /^-- strata autogenerate/);
      assert.match(text, /-- table "c": rebuild/);
    }
    assert.match(m.up, /-- table "p": add column "name"\nALTER TABLE "p" ADD COLUMN name TEXT NOT NULL DEFAULT '';/);
    assert.ok(m.summary.includes('add column "p"."name"'));
    // The statement list and the text agree.
    for (const s of m.upStatements) assert.ok(m.up.includes(`${s};`));
    db.close();
  });
});

describe("failures under the engine's conditions roll back and change nothing", () => {
  const failing: [string, string, string, string, RegExp][] = [
    ["NOT NULL without default", "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT);", "INSERT INTO t VALUES (1, NULL);",
      "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT NOT NULL);", /NOT NULL constraint failed/],
    ["new CHECK violated", "CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER);", "INSERT INTO t VALUES (1, -5);",
      "CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty >= 0));", /CHECK constraint failed/],
    ["new UNIQUE violated", "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT);", "INSERT INTO t VALUES (1, 'a'), (2, 'a');",
      "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE);", /UNIQUE constraint failed/],
    ["new unique index violated", "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT);", "INSERT INTO t VALUES (1, 'a'), (2, 'a');",
      "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT); CREATE UNIQUE INDEX te ON t(email);", /UNIQUE constraint failed/],
    ["STRICT type violated", "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);", "INSERT INTO t VALUES (1, 'abc');",
      "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER) STRICT;", /cannot store TEXT value in INTEGER column/],
    ["new FK with orphan rows (foreign_key_check)", "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER);",
      "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1), (2, 99);",
      "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id));",
      /foreign_key_check failed/],
  ];
  for (const [label, before, seed, after, error] of failing) {
    test(label, async () => {
      const db = await scratch(before, seed);
      const { migration } = await generate(db, after);
      const structure = await structureOf(db);
      const rows = await rowsOf(db);
      await assert.rejects(applyMigration(db, migration.upStatements), error);
      assert.deepEqual(await structureOf(db), structure);
      assert.deepEqual(await rowsOf(db), rows);
      db.close();
    });
  }
});

describe("rebuildTableSql on its own", () => {
  test("keeps dependent views/triggers, child rows, and the AUTOINCREMENT counter", async () => {
    const before = `
      CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER);
      CREATE TABLE child (t_id INTEGER REFERENCES t(id) ON DELETE CASCADE);
      CREATE TABLE log (msg TEXT);
      CREATE INDEX t_v ON t(v);
      CREATE VIEW tv AS SELECT v FROM t;
      CREATE VIEW tv2 AS SELECT count(*) AS n FROM tv;
      CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('t'); END;
      CREATE TRIGGER log_ai AFTER INSERT ON log WHEN new.msg = 'x' BEGIN DELETE FROM t WHERE v < 0; END;`;
    const after = before.replace("v INTEGER)", "v REAL NOT NULL DEFAULT 0)");
    const db = await scratch(before, `INSERT INTO t (v) VALUES (1), (2), (3); DELETE FROM t WHERE id = 3;
                                      INSERT INTO child VALUES (1), (2);`);
    const from = await introspect(db);
    const to = await schemaOf(after);
    const stmts = rebuildTableSql(byName(from.tables, "t")!, byName(to.tables, "t")!, to, from);
    assert.equal(stmts.filter((s) => /^DROP VIEW/.test(s)).length, 2);
    assert.equal(stmts.filter((s) => /^DROP TRIGGER/.test(s)).length, 2);
    await applyMigration(db, stmts);
    assert.equal(compareSchemas(await introspect(db), to).empty, true);
    const one = async (sql: string) => (await db.execute(sql)).rows[0][0];
    assert.equal(await one("SELECT count(*) FROM child"), 2);
    assert.equal(await one("SELECT n FROM tv2"), 2);
    assert.equal(await one("SELECT seq FROM sqlite_sequence WHERE name = 't'"), 3);
    await db.execute("INSERT INTO t (v) VALUES (9)");
    assert.equal(await one("SELECT max(id) FROM t"), 4);
    // 3 from the seed + 1 now: the trigger works again and did not fire during the copy.
    assert.equal(await one("SELECT count(*) FROM log"), 4);
    db.close();
  });
});

describe("multi-step history like the engine's (calendar app)", () => {
  const v1 = `
    CREATE TABLE specialists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE bookings (
      id INTEGER PRIMARY KEY,
      specialist_id INTEGER NOT NULL REFERENCES specialists(id) ON DELETE CASCADE,
      client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
      starts_at TEXT NOT NULL);`;
  const v2 = v1 + `
    CREATE TABLE invoices (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      booking_id INTEGER NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
      amount_cents INTEGER NOT NULL);
    CREATE INDEX bookings_by_specialist ON bookings(specialist_id, starts_at);`;
  const v3 = v2
    .replace("name TEXT NOT NULL);\n    CREATE TABLE clients", "name TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)));\n    CREATE TABLE clients")
    .replace("starts_at TEXT NOT NULL);", "starts_at TEXT NOT NULL, ends_at TEXT NOT NULL DEFAULT '');")
    .replace("id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n    CREATE TABLE bookings", "id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE);\n    CREATE TABLE bookings");

  test("empty → v1 → v2 → v3 with data, then all the way down", async () => {
    const db = await scratch("");
    const migrations = [];
    for (const target of [v1, v2, v3]) {
      const { migration } = await generate(db, target);
      assert.equal(migration.empty, false);
      await applyMigration(db, migration.upStatements);
      migrations.push(migration);
      if (target === v1) {
        await db.executeMultiple(`INSERT INTO specialists VALUES (1, 'Ann'), (2, 'Bob');
          INSERT INTO clients VALUES (1, 'Cy'), (2, 'Di');
          INSERT INTO bookings VALUES (1, 1, 1, '09:00'), (2, 2, 2, '10:00'), (3, 1, 2, '11:00');`);
      }
      if (target === v2) await db.execute("INSERT INTO invoices (booking_id, amount_cents) VALUES (1, 100), (2, 200)");
    }
    assert.equal((await generate(db, v3)).migration.empty, true, "head equals v3");
    const count = async (t: string) => Number((await db.execute(`SELECT count(*) FROM ${t}`)).rows[0][0]);
    assert.deepEqual([await count("bookings"), await count("invoices")], [3, 2]);
    for (const m of migrations.reverse()) await applyMigration(db, m.downStatements);
    assert.deepEqual((await introspect(db)).tables, []);
    db.close();
  });
});

describe("dumpSchema", () => {
  const objects = [
    "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id))",
    "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)",
    "CREATE INDEX a_name ON a(name)",
    "CREATE INDEX a_id_name ON a(id, name)",
    "CREATE VIEW v2 AS SELECT * FROM a",
    "CREATE VIEW v1 AS SELECT * FROM b",
    "CREATE TRIGGER v1_ins INSTEAD OF INSERT ON v1 BEGIN SELECT 1; END",
    "CREATE TRIGGER b_ai AFTER INSERT ON b BEGIN SELECT 1; END",
    "CREATE TABLE strata_migrations (id INTEGER)",
  ];

  test("stable order, strata_/sqlite_ excluded, same schema → identical text", async () => {
    const one = await scratch(objects.join(";\n"), "INSERT INTO a (name) VALUES ('x');");
    // Same objects, another creation order (a trigger still needs its table or view first).
    const order = [1, 0, 3, 2, 5, 4, 6, 7, 8];
    const two = await scratch(order.map((i) => objects[i]).join(";\n"));
    const dump = await dumpSchema(one);
    assert.equal(dump, await dumpSchema(two));
    assert.equal(
      dump,
      [
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)",
        "CREATE INDEX a_id_name ON a(id, name)",
        "CREATE INDEX a_name ON a(name)",
        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id))",
        "CREATE TRIGGER b_ai AFTER INSERT ON b BEGIN SELECT 1; END",
        "CREATE VIEW v1 AS SELECT * FROM b",
        "CREATE TRIGGER v1_ins INSTEAD OF INSERT ON v1 BEGIN SELECT 1; END",
        "CREATE VIEW v2 AS SELECT * FROM a",
      ].map((s) => `${s};\n`).join(""),
    );
    // Re-executing the dump reproduces it exactly.
    const three = await scratch(dump);
    assert.equal(await dumpSchema(three), dump);
    for (const db of [one, two, three]) db.close();
  });
});

describe("issue 15: each failure kind at its root", () => {
  async function roundTrip(before: string, seed: string, after: string, options: CompareOptions = {}) {
    const db = await scratch(before, seed);
    const { migration } = await generate(db, after, options);
    await applyMigration(db, fileStatements(migration.up, migration.upStatements));
    return { db, migration };
  }

  test("kind 1: a double-quoted DEFAULT stays a string when NULLs are filled (never another column's value)", async () => {
    const before = `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, a TEXT, b TEXT, c INTEGER);`;
    const after = `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, a TEXT NOT NULL DEFAULT "name", b TEXT NOT NULL DEFAULT "", c INTEGER NOT NULL DEFAULT true);`;
    const { db, migration } = await roundTrip(before, "INSERT INTO t VALUES (1, 'Ada', NULL, NULL, NULL), (2, 'Bo', 'kept', 'kept', 5);", after);
    assert.match(migration.up, /COALESCE\("a", 'name'\), COALESCE\("b", ''\), COALESCE\("c", 1\)/);
    const rows = (await db.execute("SELECT a, b, c FROM t ORDER BY id")).rows.map((r) => [r.a, r.b, r.c]);
    assert.deepEqual(rows, [["name", "", 1], ["kept", "kept", 5]]);
    db.close();
  });

  test("kind 2: constraints written over several lines are commented line by line; the file splits into the same statements", async () => {
    const before = `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT,\n  UNIQUE (\n    a, -- first\n    b\n  ),\n  CHECK (\n    a <> 'x'\n  ));`;
    const { db, migration } = await roundTrip(before, "INSERT INTO t VALUES (1, 'p', 'q');", "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT);");
    // Without line-by-line comments the file would split into other statements (or fail to).
    fileStatements(migration.down, migration.downStatements);
    assert.match(migration.up, /--   why: SQLite's ALTER TABLE cannot change this in place: constraint removed: UNIQUE \(\n--     a, -- first\n--     b\n--   \)\n/);
    db.close();
  });

  test("kind 3: a table's only column replaced (add before drop), and a view naming a dropped column is dropped and recreated", async () => {
    const before = `CREATE TABLE one (old TEXT); CREATE TABLE t (id INTEGER PRIMARY KEY, gone TEXT, kept TEXT);
                    CREATE VIEW v AS SELECT id, gone, kept FROM t; CREATE VIEW everything AS SELECT * FROM t;
                    CREATE TRIGGER tr AFTER UPDATE ON t BEGIN SELECT new.gone; END;`;
    const after = `CREATE TABLE one (new TEXT); CREATE TABLE t (id INTEGER PRIMARY KEY, kept TEXT);
                   CREATE VIEW v AS SELECT id, kept FROM t; CREATE VIEW everything AS SELECT * FROM t;
                   CREATE TRIGGER tr AFTER UPDATE ON t BEGIN SELECT new.kept; END;`;
    const { db, migration } = await roundTrip(before, "INSERT INTO one VALUES ('x'); INSERT INTO t VALUES (1, 'g', 'k');", after);
    const up = migration.upStatements;
    assert.ok(up.indexOf('ALTER TABLE "one" ADD COLUMN new TEXT') < up.indexOf('ALTER TABLE "one" DROP COLUMN "old"'), migration.up);
    assert.ok(up.indexOf('DROP VIEW "v"') < up.indexOf('ALTER TABLE "t" DROP COLUMN "gone"'), migration.up);
    // An unchanged view is dropped and recreated too, and the file says which change it depends on.
    assert.ok(up.indexOf('DROP VIEW "everything"') < up.indexOf('ALTER TABLE "t" DROP COLUMN "gone"'), migration.up);
    assert.match(migration.up, /\n--   view "everything": names "t" \(drops column "gone"\)\n/);
    assert.ok(!up.some((s) => s.startsWith('CREATE TABLE "new_')), "no rebuild needed");
    assert.deepEqual((await db.execute("SELECT * FROM v")).rows.map((r) => ({ ...r })), [{ id: 1, kept: "k" }]);
    assert.deepEqual((await db.execute("SELECT * FROM everything")).rows.map((r) => ({ ...r })), [{ id: 1, kept: "k" }]);
    db.close();
  });

  test("table-qualified CHECKs survive a rebuild (the temporary table's CHECK names the temporary table)", async () => {
    const before = `CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, CHECK (t.a > 0));`;
    const after = `CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL DEFAULT 1, CHECK (t.a > 0));`;
    const { db, migration } = await roundTrip(before, "INSERT INTO t VALUES (1, 5), (2, NULL);", after);
    assert.match(migration.up, /CREATE TABLE "new_t" \(.*CHECK \("new_t"\.a > 0\)\)/s);
    await assert.rejects(db.execute("INSERT INTO t VALUES (3, -1)"), /CHECK constraint failed/);
    db.close();
  });
  test("kind 4: a foreign key is refused exactly where SQLite cannot check it (the implicit rowid among them)", async () => {
    const parents = [
      "CREATE TABLE p (label TEXT, a TEXT, b TEXT)",
      "CREATE TABLE p (id INTEGER PRIMARY KEY, label TEXT, a TEXT, b TEXT)",
      "CREATE TABLE p (a TEXT, b TEXT, label TEXT, PRIMARY KEY (a, b))",
      "CREATE TABLE p (id INTEGER PRIMARY KEY, label TEXT UNIQUE, a TEXT, b TEXT)",
      "CREATE TABLE p (id INTEGER PRIMARY KEY, label TEXT, a TEXT, b TEXT, UNIQUE (b, a))",
      "CREATE TABLE p (id INTEGER PRIMARY KEY, label TEXT, a TEXT, b TEXT); CREATE UNIQUE INDEX pl ON p (label)",
      "CREATE TABLE p (id INTEGER PRIMARY KEY, label TEXT, a TEXT, b TEXT); CREATE UNIQUE INDEX pl ON p (label) WHERE label IS NOT NULL",
      "CREATE TABLE p (rowid INTEGER PRIMARY KEY, label TEXT, a TEXT, b TEXT)",
    ];
    const keys = ["(x) REFERENCES p", "(x) REFERENCES p(rowid)", "(x) REFERENCES p(id)", "(x) REFERENCES p(label)", "(x, y) REFERENCES p(a, b)", "(y, x) REFERENCES p(b, a)", "(x, y) REFERENCES p"];
    const verdicts = { refused: 0, accepted: 0 };
    for (const parent of parents) {
      for (const key of keys) {
        const db = await scratch(`${parent}; CREATE TABLE c (x TEXT, y TEXT, FOREIGN KEY ${key});`);
        try {
          // What the engine runs before every commit: it fails on a key SQLite cannot locate.
          const sqliteRefuses = await db.execute('PRAGMA foreign_key_check("c")').then(() => false, () => true);
          const problems = unenforceableForeignKeys(await introspect(db));
          assert.equal(problems.length > 0, sqliteRefuses, `${parent} / FOREIGN KEY ${key}: ${problems.join("; ")}`);
          verdicts[sqliteRefuses ? "refused" : "accepted"]++;
          if (/rowid\)$/.test(key) && !/rowid INTEGER/.test(parent)) assert.match(problems[0] ?? "", /implicit rowid/);
        } finally {
          db.close();
        }
      }
    }
    assert.ok(verdicts.refused > 10 && verdicts.accepted > 10, JSON.stringify(verdicts));
  });
  test("known gap closed: a changed fts5 or rtree table keeps its contents (copied, or rebuilt from its content table), both ways", async () => {
    const before = `CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
      CREATE VIRTUAL TABLE notes USING fts5(title, body);
      CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
      CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);
      CREATE VIEW hits AS SELECT rowid, title FROM notes;`;
    const after = `CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
      CREATE VIRTUAL TABLE notes USING fts5(title, body, tag UNINDEXED, tokenize = 'porter');
      CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id', tokenize = 'porter');
      CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1, +label);
      CREATE VIEW hits AS SELECT rowid, title FROM notes;`;
    const seed = `INSERT INTO docs VALUES (7, 'running fast'); INSERT INTO docs_fts (rowid, body) VALUES (7, 'running fast');
      INSERT INTO notes (rowid, title, body) VALUES (42, 'hello', 'running late'); INSERT INTO boxes VALUES (3, 1.0, 2.0);`;
    const db = await scratch(before, seed);
    const { migration } = await generate(db, after);
    await applyMigration(db, fileStatements(migration.up, migration.upStatements));
    const all = async (sql: string) => (await db.execute(sql)).rows.map((r) => ({ ...r }));
    // Porter stemming now: 'run' finds 'running' in both fts tables; the rowid survives.
    assert.deepEqual(await all("SELECT rowid, title, body, tag FROM notes WHERE notes MATCH 'run'"), [{ rowid: 42, title: "hello", body: "running late", tag: null }]);
    assert.deepEqual(await all("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'run'"), [{ rowid: 7 }]);
    assert.deepEqual(await all("SELECT id, x0, x1, label FROM boxes"), [{ id: 3, x0: 1, x1: 2, label: null }]);
    assert.deepEqual(await all("SELECT * FROM hits"), [{ rowid: 42, title: "hello" }]);
    assert.match(migration.up, /-- note: virtual table "notes" is recreated and its rows copied/);
    await applyMigration(db, fileStatements(migration.down, migration.downStatements));
    assert.deepEqual(await all("SELECT rowid, title FROM notes WHERE notes MATCH 'running'"), [{ rowid: 42, title: "hello" }]);
    assert.deepEqual(await all("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'running'"), [{ rowid: 7 }]);
    assert.deepEqual(await all("SELECT * FROM boxes"), [{ id: 3, x0: 1, x1: 2 }]);
    db.close();
  });
  test("virtual tables, seeded: 40 random fts5/rtree changes keep every shared value by rowid, and down brings back the structure", async () => {
    const r = rng(15);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const fts = () => {
      const cols = ["title", "body", "tag", "extra"].filter(() => r() < 0.6);
      const defs = (cols.length > 0 ? cols : ["body"]).map((c) => (r() < 0.2 ? `${c} UNINDEXED` : c));
      const opts = r() < 0.5 ? [] : [pick(["tokenize = 'porter'", "tokenize = 'unicode61'", "prefix = '2'"])];
      return `CREATE VIRTUAL TABLE f USING fts5(${[...defs, ...opts].join(", ")});`;
    };
    const rtree = () => `CREATE VIRTUAL TABLE g USING rtree(id, x0, x1${r() < 0.5 ? ", y0, y1" : ""}${r() < 0.5 ? ", +label" : ""});`;
    const columnsOf = (sql: string) => [...sql.matchAll(/[(,]\s*\+?(\w+)(?=[\s,)])(?! =)/g)].map((m) => m[1]!).filter((c) => !["fts5", "rtree"].includes(c));
    let compared = 0;
    for (let pair = 0; pair < 40; pair++) {
      const before = `${fts()}\n${rtree()}`;
      const after = `${r() < 0.7 ? fts() : before.split("\n")[0]}\n${r() < 0.5 ? rtree() : before.split("\n")[1]}`;
      const [fb, gb] = before.split("\n").map(columnsOf);
      const seed = [1, 2, 3].map((id) => `INSERT INTO f (rowid, ${fb!.join(", ")}) VALUES (${id * 10}, ${fb!.map((c) => `'${c} ${id}'`).join(", ")});` +
        `INSERT INTO g (${gb!.join(", ")}) VALUES (${id}, ${gb!.slice(1).map((c, i) => (c === "label" ? `'L${id}'` : String(i % 2 === 0 ? id : id + 1))).join(", ")});`).join("\n");
      const db = await scratch(before, seed);
      const [beforeRef, afterRef] = [await scratch(before), await scratch(after)];
      try {
        const rows = async () => ({ f: (await db.execute("SELECT rowid AS r, * FROM f")).rows.map((x) => ({ ...x })), g: (await db.execute("SELECT * FROM g")).rows.map((x) => ({ ...x })) });
        const start = await rows();
        const { migration } = await generate(db, after);
        await applyMigration(db, fileStatements(migration.up, migration.upStatements));
        assert.deepEqual(await structureOf(db), await structureOf(afterRef), `${before}\n→ ${after}\n${migration.up}`);
        const [fa, ga] = after.split("\n").map(columnsOf);
        const now = await rows();
        for (const [table, kept] of [["f", fb!.filter((c) => fa!.includes(c))], ["g", gb!.filter((c) => ga!.includes(c))]] as const) {
          assert.equal(now[table].length, 3, `${table} rows\n${migration.up}`);
          for (const [i, row] of start[table].entries()) {
            for (const c of [...(table === "f" ? ["r"] : []), ...kept]) {
              assert.deepEqual(now[table][i]![c], row[c], `${table}.${c}\n${migration.up}`);
              compared++;
            }
          }
        }
        await applyMigration(db, fileStatements(migration.down, migration.downStatements));
        assert.deepEqual(await structureOf(db), await structureOf(beforeRef), `down\n${migration.down}`);
      } finally {
        for (const c of [db, beforeRef, afterRef]) c.close();
      }
    }
    assert.ok(compared > 200, `only ${compared} values compared`);
  });
});

describe("issue 19: in place where SQLite allows it", () => {
  test("ADD COLUMN with a CHECK or a REFERENCES (NULL default) is in place; the new CHECK is checked", async () => {
    const before = "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY);";
    const after = `CREATE TABLE p (id INTEGER PRIMARY KEY);
      CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER DEFAULT 0 CHECK (qty >= 0), p_id INTEGER REFERENCES p(id));`;
    const diff = await diffOf(before, after);
    assert.deepEqual(diff.tables.flatMap((t) => t.ops), [{ kind: "addColumn", column: "qty" }, { kind: "addColumn", column: "p_id" }]);
    const db = await scratch(before, "INSERT INTO t VALUES (1);");
    const { migration } = await generate(db, after);
    await applyMigration(db, migration.upStatements);
    await assert.rejects(db.execute("INSERT INTO t (qty) VALUES (-1)"), /CHECK constraint failed/);
    db.close();
  });

  test("a REFERENCES column with a non-NULL default is not added in place; the file says which statement SQLite refuses", async () => {
    const before = "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY);";
    const after = "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY, p_id INTEGER DEFAULT 1 REFERENCES p(id));";
    const db = await scratch(before);
    const { migration } = await generate(db, after);
    assert.match(migration.up, /--   why: SQLite refuses ALTER TABLE "t" ADD COLUMN p_id INTEGER DEFAULT 1 REFERENCES p\(id\): a REFERENCES column must default to NULL/);
    db.close();
  });

  test("every rebuild states one reason first and the row count when known", async () => {
    const db = await scratch("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER);", "INSERT INTO t VALUES (1, 1), (2, 2);");
    const from = await introspect(db);
    const to = await schemaOf("CREATE TABLE t (id INTEGER PRIMARY KEY, a REAL NOT NULL DEFAULT 0);");
    const m = renderMigration(compareSchemas(from, to), from, to, { rowCounts: { t: 2 } });
    assert.match(m.up, /-- table "t": rebuild .*\n--   why: SQLite's ALTER TABLE cannot change this in place: type of "a": INTEGER → REAL\n(--   also: .*\n)+--   rows: 2 when this was generated/);
    db.close();
  });

  test("found by the property test: NOT NULL + CHECK + a REAL default is not added in place (libSQL reports a false NOT NULL failure)", async () => {
    const before = "CREATE TABLE t (id INTEGER PRIMARY KEY);";
    const after = "CREATE TABLE t (id INTEGER PRIMARY KEY, n NUMERIC NOT NULL DEFAULT 1.5 CHECK (n > 0));";
    const db = await scratch(before, "INSERT INTO t VALUES (1);");
    await assert.rejects(db.execute("ALTER TABLE t ADD COLUMN n NUMERIC NOT NULL DEFAULT 1.5 CHECK (n > 0)"), /NOT NULL constraint failed/);
    const { migration } = await generate(db, after);
    assert.match(migration.up, /why: SQLite refuses ALTER TABLE "t" ADD COLUMN .*false NOT NULL failure/);
    await applyMigration(db, migration.upStatements);
    assert.equal((await db.execute("SELECT n FROM t")).rows[0]!.n, 1.5);
    db.close();
    for (const [dflt, inPlace] of [["15e-1", false], ["-1.5", false], ["2.0", true], ["'1.5'", true]] as const) {
      const diff = await diffOf(before, `CREATE TABLE t (id INTEGER PRIMARY KEY, n NUMERIC NOT NULL DEFAULT ${dflt} CHECK (n <> 0));`);
      assert.equal(diff.tables[0]!.ops[0]!.kind, inPlace ? "addColumn" : "rebuildTable", dflt);
    }
  });

  test("libSQL's ALTER COLUMN only for plain definitions: a type with a comma is rebuilt instead", async () => {
    const diff = await diffOf("CREATE TABLE t (a DECIMAL(10,2) DEFAULT 1)", "CREATE TABLE t (a DECIMAL(10,2) DEFAULT 2)");
    assert.deepEqual(diff.tables[0]!.ops.map((o) => o.kind), ["rebuildTable"]);
  });
});
