import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createClient } from "@libsql/client";
import { splitSql, SqlSyntaxError, type SqlStatement } from "../src/script/sql-split.ts";

/** Shorthand for the expected statements: [sql, line] pairs. */
function stmts(...pairs: [string, number][]): SqlStatement[] {
  return pairs.map(([sql, line]) => ({ sql, line }));
}

describe("splitSql: statement boundaries", () => {
  const cases: { name: string; input: string; expected: SqlStatement[] }[] = [
    {
      name: "simple statements on separate lines",
      input: "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\n",
      expected: stmts(["CREATE TABLE a (x)", 1], ["INSERT INTO a VALUES (1)", 2]),
    },
    {
      name: "several statements on one line, extra whitespace and empty statements",
      input: "  SELECT 1 ;;SELECT 2;  ; \n;",
      expected: stmts(["SELECT 1", 1], ["SELECT 2", 1]),
    },
    {
      name: "trailing statement without a semicolon",
      input: "SELECT 1;\nSELECT 2\n\n",
      expected: stmts(["SELECT 1", 1], ["SELECT 2", 2]),
    },
    {
      name: "semicolons and escaped quotes in string literals",
      input: "INSERT INTO t VALUES ('a;b', 'it''s; fine', '');\nSELECT ';'",
      expected: stmts(["INSERT INTO t VALUES ('a;b', 'it''s; fine', '')", 1], ["SELECT ';'", 2]),
    },
    {
      name: "a string literal spanning lines",
      input: "SELECT 'one;\ntwo;\n';\nSELECT 3;",
      expected: stmts(["SELECT 'one;\ntwo;\n'", 1], ["SELECT 3", 4]),
    },
    {
      name: "semicolons in double-quoted, backtick and bracket identifiers",
      input: 'CREATE TABLE "we;ird""name" (`a;b` INT, [c;d] TEXT, `x``;y`);\nSELECT 1;',
      expected: stmts(['CREATE TABLE "we;ird""name" (`a;b` INT, [c;d] TEXT, `x``;y`)', 1], ["SELECT 1", 2]),
    },
    {
      name: "semicolons in line comments",
      input: "SELECT 1 -- not the end; really\n, 2;\n-- between; statements\nSELECT 3; -- trailing; comment",
      expected: stmts(["SELECT 1 -- not the end; really\n, 2", 1], ["SELECT 3", 4]),
    },
    {
      name: "semicolons in block comments",
      input: "SELECT /* a; b */ 1;\n/* leading;\n   comment; */ SELECT 2 /* trailing; */;",
      expected: stmts(["SELECT /* a; b */ 1", 1], ["SELECT 2", 3]),
    },
    {
      name: "comment markers inside strings are not comments",
      input: "SELECT '--', '/*';\nSELECT 2;",
      expected: stmts(["SELECT '--', '/*'", 1], ["SELECT 2", 2]),
    },
    {
      name: "a lone minus or slash is an operator",
      input: "SELECT 4-1, 6/2;SELECT 5",
      expected: stmts(["SELECT 4-1, 6/2", 1], ["SELECT 5", 1]),
    },
    {
      name: "BEGIN and COMMIT as plain transaction statements",
      input: "BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\nBEGIN TRANSACTION;\nEND TRANSACTION;",
      expected: stmts(
        ["BEGIN", 1],
        ["INSERT INTO t VALUES (1)", 2],
        ["COMMIT", 3],
        ["BEGIN TRANSACTION", 4],
        ["END TRANSACTION", 5],
      ),
    },
    {
      name: "words that contain or look like END/BEGIN are not keywords",
      input: "CREATE TABLE e (backend TEXT, end_date TEXT, \"END\" INT, begin_at INT);\nSELECT 1;",
      expected: stmts(['CREATE TABLE e (backend TEXT, end_date TEXT, "END" INT, begin_at INT)', 1], ["SELECT 1", 2]),
    },
    {
      name: "CREATE followed by something other than TRIGGER",
      input: "CREATE TEMP TABLE trigger_log (x);\nCREATE VIEW v AS SELECT 1;",
      expected: stmts(["CREATE TEMP TABLE trigger_log (x)", 1], ["CREATE VIEW v AS SELECT 1", 2]),
    },
    {
      name: "non-ASCII identifiers",
      input: "CREATE TABLE café (naïve);SELECT '日本;語';",
      expected: stmts(["CREATE TABLE café (naïve)", 1], ["SELECT '日本;語'", 1]),
    },
  ];

  for (const { name, input, expected } of cases) {
    it(name, () => {
      assert.deepEqual(splitSql(input).statements, expected);
    });
  }
});

describe("splitSql: triggers", () => {
  const trigger = [
    "CREATE TRIGGER log_insert AFTER INSERT ON items",
    "BEGIN",
    "  INSERT INTO log (msg) VALUES ('inserted; ' || new.name);",
    "  UPDATE counters SET n = n + 1, kind = CASE WHEN new.price > 10 THEN 'big' ELSE 'small' END;",
    "  UPDATE items SET backend = 'x', end_date = NULL WHERE id = new.id;",
    "END",
  ].join("\n");

  const cases: { name: string; input: string; expected: SqlStatement[] }[] = [
    {
      name: "body with several statements and CASE … END",
      input: `${trigger};\nSELECT 1;`,
      expected: stmts([trigger, 1], ["SELECT 1", 7]),
    },
    {
      name: "trigger at end of input without a final semicolon",
      input: `SELECT 0;\n${trigger}\n-- done\n`,
      expected: stmts(["SELECT 0", 1], [trigger, 2]),
    },
    {
      name: "TEMP / TEMPORARY, IF NOT EXISTS, lower case, comment before the final ';'",
      input:
        "create temp trigger if not exists t1 before delete on a begin delete from b; end /* ; */ ;\n" +
        "Create Temporary Trigger t2 After Update Of end_date On a Begin Select Case When 1 Then 2 End; End;",
      expected: stmts(
        ["create temp trigger if not exists t1 before delete on a begin delete from b; end", 1],
        ["Create Temporary Trigger t2 After Update Of end_date On a Begin Select Case When 1 Then 2 End; End", 2],
      ),
    },
    {
      name: 'nested CASE, a quoted "END" and END inside strings and comments in the body',
      input:
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n" +
        "  SELECT CASE WHEN 1 THEN CASE 2 WHEN 2 THEN 'END;' END END;\n" +
        '  UPDATE a SET "END" = 1; -- END;\n' +
        "  /* END; */ DELETE FROM a WHERE 0;\n" +
        "END;SELECT 9",
      expected: stmts(
        [
          "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n" +
            "  SELECT CASE WHEN 1 THEN CASE 2 WHEN 2 THEN 'END;' END END;\n" +
            '  UPDATE a SET "END" = 1; -- END;\n' +
            "  /* END; */ DELETE FROM a WHERE 0;\n" +
            "END",
          1,
        ],
        ["SELECT 9", 5],
      ),
    },
  ];

  for (const { name, input, expected } of cases) {
    it(name, () => {
      assert.deepEqual(splitSql(input).statements, expected);
    });
  }
});

describe("splitSql: line numbers, BOM and line endings", () => {
  it("strips a leading BOM", () => {
    assert.deepEqual(splitSql("\uFEFFSELECT 1;\nSELECT 2").statements, stmts(["SELECT 1", 1], ["SELECT 2", 2]));
  });

  it("counts CRLF line endings", () => {
    const input = "-- header\r\nCREATE TABLE a (\r\n  x INT\r\n);\r\n\r\nSELECT 1;\r\n";
    assert.deepEqual(splitSql(input).statements, stmts(["CREATE TABLE a (\r\n  x INT\r\n)", 2], ["SELECT 1", 6]));
  });

  it("counts a lone CR as a line ending", () => {
    assert.deepEqual(splitSql("SELECT 1;\rSELECT 2;").statements, stmts(["SELECT 1", 1], ["SELECT 2", 2]));
  });

  it("reports the line after multi-line comments", () => {
    const input = "/*\n * a\n * b\n */\n-- c\n\n   /* d */ SELECT 1;\n/* e\n*/ SELECT 2;";
    assert.deepEqual(splitSql(input).statements, stmts(["SELECT 1", 7], ["SELECT 2", 9]));
  });

  it("reports lines after multi-line strings and triggers", () => {
    const input = "SELECT 'a\nb\nc';\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\nSELECT 1;\nEND;\n\nSELECT 3;";
    const lines = splitSql(input).statements.map((s) => s.line);
    assert.deepEqual(lines, [1, 4, 8]);
  });
});

describe("splitSql: empty input", () => {
  const cases: { name: string; input: string }[] = [
    { name: "empty file", input: "" },
    { name: "BOM only", input: "\uFEFF" },
    { name: "whitespace only", input: " \n\t\r\n " },
    { name: "comments only", input: "-- one\n/* two; */\n-- three;" },
    { name: "semicolons and comments only", input: ";\n; -- x\n/* y */;" },
  ];
  for (const { name, input } of cases) {
    it(`${name} → zero statements`, () => {
      assert.deepEqual(splitSql(input).statements, []);
    });
  }
});

describe("splitSql: directives", () => {
  it("collects directives from the leading comment lines", () => {
    const input = "-- Adds the users table.\n-- strata:no-transaction\n--strata: Empty \r\n\n/* x */\nSELECT 1;";
    const { statements, directives } = splitSql(input);
    assert.deepEqual([...directives].sort(), ["empty", "no-transaction"]);
    assert.deepEqual(statements, stmts(["SELECT 1", 6]));
  });

  it("matches the prefix and the name case-insensitively and keeps unknown names", () => {
    const { directives } = splitSql("-- STRATA:No-Transaction\n-- strata:something-else\nSELECT 1;");
    assert.deepEqual([...directives].sort(), ["no-transaction", "something-else"]);
  });

  it("collects directives from a comment-only file", () => {
    const { statements, directives } = splitSql("\uFEFF-- strata:empty\n");
    assert.deepEqual(statements, []);
    assert.deepEqual([...directives], ["empty"]);
  });

  it("ignores directive-like comments after the first statement", () => {
    const input = "SELECT 1;\n-- strata:no-transaction\nSELECT 2; -- strata:empty";
    assert.deepEqual([...splitSql(input).directives], []);
  });

  it("ignores directive-like text that is not a whole line comment", () => {
    const input = "/* strata:a */\n-- see strata:b\n-- strata:\nSELECT '-- strata:c';";
    assert.deepEqual([...splitSql(input).directives], []);
  });
});

describe("splitSql: errors", () => {
  const cases: { name: string; input: string; line: number; column: number; message: RegExp }[] = [
    {
      name: "unterminated string literal",
      input: "SELECT 1;\nSELECT 2;\nSELECT 'abc;\nSELECT 3;",
      line: 3,
      column: 8,
      message: /unterminated string literal starting at line 3, column 8/,
    },
    {
      name: "string whose last quote is an escaped quote",
      input: "SELECT 'it''",
      line: 1,
      column: 8,
      message: /unterminated string literal/,
    },
    {
      name: "unterminated double-quoted identifier",
      input: 'SELECT 1;\r\nSELECT "col',
      line: 2,
      column: 8,
      message: /unterminated double-quoted identifier starting at line 2/,
    },
    {
      name: "unterminated backtick identifier",
      input: "\n\n  SELECT `col``;",
      line: 3,
      column: 10,
      message: /unterminated backtick-quoted identifier starting at line 3/,
    },
    {
      name: "unterminated bracket identifier",
      input: "SELECT [col;\nSELECT 1;",
      line: 1,
      column: 8,
      message: /unterminated bracket-quoted identifier starting at line 1/,
    },
    {
      name: "unterminated block comment",
      input: "SELECT 1;\n/* comment\nSELECT 2;",
      line: 2,
      column: 1,
      message: /unterminated block comment starting at line 2/,
    },
    {
      name: "trigger without END",
      input: "SELECT 1;\n\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  DELETE FROM b;\n",
      line: 3,
      column: 1,
      message: /CREATE TRIGGER starting at line 3, column 1 has no END/,
    },
    {
      name: "trigger whose END is inside a CASE only",
      input: "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END;",
      line: 1,
      column: 1,
      message: /has no END/,
    },
    {
      name: "trigger END not followed by a semicolon",
      input: "CREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM b; END\nSELECT 1;",
      line: 2,
      column: 1,
      message: /expected ';' after the END that closes the trigger body, at line 2, column 1/,
    },
    {
      name: "NUL character",
      input: "SELECT 1;\nSEL\0ECT",
      line: 2,
      column: 4,
      message: /NUL character at line 2, column 4.*binary/,
    },
  ];

  for (const { name, input, line, column, message } of cases) {
    it(name, () => {
      assert.throws(
        () => splitSql(input),
        (err: unknown) => {
          assert.ok(err instanceof SqlSyntaxError, `expected SqlSyntaxError, got ${String(err)}`);
          assert.ok(err instanceof Error);
          assert.equal(err.name, "SqlSyntaxError");
          assert.match(err.message, message);
          assert.deepEqual({ line: err.line, column: err.column }, { line, column });
          return true;
        },
      );
    });
  }
});

describe("splitSql: statements run in SQLite", () => {
  /** Splits `input` and executes every statement, one call each, on a fresh in-memory database. */
  async function runAll(input: string) {
    const client = createClient({ url: ":memory:" });
    const { statements } = splitSql(input);
    for (const { sql, line } of statements) {
      try {
        await client.execute(sql);
      } catch (err) {
        client.close();
        throw new Error(`statement at line ${line} failed: ${sql}`, { cause: err });
      }
    }
    return { client, count: statements.length };
  }

  it("creates tables and rows from quoted and commented input", async () => {
    const input = [
      "\uFEFF-- strata:no-transaction",
      "CREATE TABLE \"we;ird\" (`a;b` TEXT, [c;d] TEXT, backend TEXT, end_date TEXT); -- comment;",
      "/* block; comment */",
      "INSERT INTO \"we;ird\" VALUES ('x;''y', '--', 'b', 'e');",
      "INSERT INTO \"we;ird\" VALUES ('/*', ';', NULL, NULL)",
    ].join("\r\n");
    const { client, count } = await runAll(input);
    try {
      assert.equal(count, 3);
      const rs = await client.execute('SELECT "a;b" AS a, "c;d" AS c FROM "we;ird" ORDER BY rowid');
      assert.deepEqual(
        rs.rows.map((r) => [r.a, r.c]),
        [
          ["x;'y", "--"],
          ["/*", ";"],
        ],
      );
    } finally {
      client.close();
    }
  });

  it("creates a trigger with several statements and CASE … END that fires", async () => {
    const input = `
      CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price INT, end_date TEXT);
      CREATE TABLE log (msg TEXT, size TEXT);
      CREATE TABLE counters (n INT);
      INSERT INTO counters VALUES (0);

      -- Log every insert; classify by price.
      CREATE TRIGGER items_ai AFTER INSERT ON items
      BEGIN
        INSERT INTO log (msg, size) VALUES (
          'inserted; ' || new.name,
          CASE WHEN new.price > 10 THEN 'big' ELSE 'small' END
        );
        UPDATE counters SET n = n + 1;
        UPDATE items SET end_date = 'never' WHERE id = new.id;
      END;

      CREATE TEMP TRIGGER items_ad AFTER DELETE ON items BEGIN
        INSERT INTO log VALUES ('deleted ' || old.name, CASE old.price WHEN 1 THEN 'one' END);
      END;

      INSERT INTO items (name, price) VALUES ('apple', 5), ('melon', 20);
      DELETE FROM items WHERE price = 20
    `;
    const { client, count } = await runAll(input);
    try {
      assert.equal(count, 8);
      const log = await client.execute("SELECT msg, size FROM log ORDER BY rowid");
      assert.deepEqual(
        log.rows.map((r) => [r.msg, r.size]),
        [
          ["inserted; apple", "small"],
          ["inserted; melon", "big"],
          ["deleted melon", null],
        ],
      );
      const n = await client.execute("SELECT n FROM counters");
      assert.equal(n.rows[0]?.n, 2);
      const items = await client.execute("SELECT end_date FROM items");
      assert.deepEqual(
        items.rows.map((r) => r.end_date),
        ["never"],
      );
    } finally {
      client.close();
    }
  });
});

describe("splitSql: large input", () => {
  it("splits a ~10 MB file", (t) => {
    const chunk =
      "-- comment; with a semicolon\n" +
      "INSERT INTO t (a, b, \"c;\") VALUES ('some text; with ''quotes''', 42, /* inline; */ x'00ff');\n" +
      "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET b = CASE WHEN 1 THEN 2 END; END;\n";
    const repeats = Math.ceil((10 * 1024 * 1024) / chunk.length);
    const input = chunk.repeat(repeats);
    const started = performance.now();
    const { statements } = splitSql(input);
    const ms = performance.now() - started;
    t.diagnostic(`${(input.length / 1024 / 1024).toFixed(1)} MB, ${statements.length} statements in ${ms.toFixed(0)} ms`);
    assert.equal(statements.length, repeats * 2);
    assert.equal(statements.at(-1)?.line, repeats * 3);
  });
});
