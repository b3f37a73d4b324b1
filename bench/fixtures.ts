/**
 * Workload inputs: migration folders with identical SQL for strata and dbmate, and large SQLite
 * files built in-process with recursive CTEs.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "libsql";

/** 14-digit versions, the same for both tools: 20240101000001, 20240101000002, … */
export function versionOf(i: number): string {
  return `2024010100${String(i).padStart(4, "0")}`;
}

/** Migration i of the "create a table and an index and insert rows" series (i from 1). */
export function tableMigration(i: number): { up: string; down: string } {
  const t = `t_${String(i).padStart(4, "0")}`;
  const values = Array.from({ length: 10 }, (_, k) => `('item ${i}.${k + 1}', ${k + 1})`).join(",\n  ");
  return {
    up: [
      `CREATE TABLE ${t} (\n  id INTEGER PRIMARY KEY,\n  name TEXT NOT NULL,\n  qty INTEGER NOT NULL DEFAULT 0,\n  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP\n);`,
      `CREATE INDEX ${t}_name ON ${t} (name);`,
      `INSERT INTO ${t} (name, qty) VALUES\n  ${values};`,
    ].join("\n\n"),
    down: `DROP TABLE ${t};`,
  };
}

export interface MigrationDirs {
  strata: string;
  dbmate: string;
}

/** Writes `count` migrations into `<root>/strata` (.up.sql/.down.sql) and `<root>/dbmate` (.sql). */
export function writeTableMigrations(root: string, count: number): MigrationDirs {
  const dirs = { strata: path.join(root, "strata"), dbmate: path.join(root, "dbmate") };
  fs.mkdirSync(dirs.strata, { recursive: true });
  fs.mkdirSync(dirs.dbmate, { recursive: true });
  for (let i = 1; i <= count; i++) {
    const v = versionOf(i);
    const name = `create_t_${String(i).padStart(4, "0")}`;
    const m = tableMigration(i);
    fs.writeFileSync(path.join(dirs.strata, `${v}_${name}.up.sql`), `${m.up}\n`);
    fs.writeFileSync(path.join(dirs.strata, `${v}_${name}.down.sql`), `${m.down}\n`);
    fs.writeFileSync(path.join(dirs.dbmate, `${v}_${name}.sql`), `-- migrate:up\n${m.up}\n\n-- migrate:down\n${m.down}\n`);
  }
  return dirs;
}

/** A database of about `megabytes` MB: rows with a 1000-byte random blob, an indexed key and text. */
export function createBlobDatabase(file: string, megabytes: number): { bytes: number; rows: number } {
  const rows = Math.round((megabytes * 1024 * 1024) / 1380);
  const db = new Database(file);
  try {
    db.exec(`
      PRAGMA journal_mode = OFF;
      PRAGMA synchronous = OFF;
      CREATE TABLE blobs (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, label TEXT NOT NULL, body BLOB NOT NULL);
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${rows})
      INSERT INTO blobs (id, k, label, body) SELECT i, abs(random()) % 1000000, 'row ' || i, randomblob(1000) FROM c;
      CREATE INDEX blobs_k ON blobs (k);
    `);
  } finally {
    db.close();
  }
  return { bytes: fs.statSync(file).size, rows };
}

/** A table `big(id INTEGER PRIMARY KEY, v INTEGER, note TEXT)` with `rows` rows. */
export function createBigTable(file: string, rows: number): void {
  const db = new Database(file);
  try {
    db.exec(`
      CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT NOT NULL);
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${rows})
      INSERT INTO big (id, v, note) SELECT i, i % 1000, 'note ' || i FROM c;
    `);
  } finally {
    db.close();
  }
}

export function countRows(file: string, sql: string): number {
  const db = new Database(file, { readonly: true });
  try {
    const row = db.prepare(sql).raw().get() as unknown[];
    return Number(row[0]);
  } finally {
    db.close();
  }
}

/** The TS data migration, set-based: one UPDATE statement. */
export const TS_SET_BASED = `// Data migration: one set-based UPDATE.
export async function up(tx) {
  await tx.execute("UPDATE big SET v = v + 1");
}
`;

/**
 * The TS data migration as users often write it when the new value is computed in code: read a
 * page of rows (keyset pagination), compute, write back with keyed UPDATEs in one tx.batch.
 */
export const TS_BATCHED = `// Data migration: pages of rows, new values computed in TypeScript, keyed UPDATEs via tx.batch.
const PAGE = 5000;

export async function up(tx) {
  let last = 0;
  for (;;) {
    const page = await tx.execute({ sql: "SELECT id, v FROM big WHERE id > ? ORDER BY id LIMIT ?", args: [last, PAGE] });
    if (page.rows.length === 0) break;
    await tx.batch(page.rows.map((r) => ({ sql: "UPDATE big SET v = ? WHERE id = ?", args: [Number(r.v) + 1, r.id] })));
    last = Number(page.rows[page.rows.length - 1].id);
  }
}
`;

/**
 * The same pages, written back with one set-based UPDATE per page: the changes go in as one JSON
 * argument and are joined with json_each (UPDATE … FROM needs SQLite ≥ 3.33).
 */
export const TS_JSON_PAGES = `// Data migration: pages of rows, new values computed in TypeScript, one UPDATE … FROM json_each(?) per page.
const PAGE = 5000;

export async function up(tx) {
  let last = 0;
  for (;;) {
    const page = await tx.execute({ sql: "SELECT id, v FROM big WHERE id > ? ORDER BY id LIMIT ?", args: [last, PAGE] });
    if (page.rows.length === 0) break;
    const changes = page.rows.map((r) => [r.id, Number(r.v) + 1]);
    await tx.execute({
      sql: "UPDATE big SET v = j.value ->> 1 FROM json_each(?) AS j WHERE big.id = j.value ->> 0",
      args: [JSON.stringify(changes)],
    });
    last = Number(page.rows[page.rows.length - 1].id);
  }
}
`;

/** The same UPDATE as an SQL migration, for dbmate (the SQL-only reference). */
export const SQL_UPDATE = "UPDATE big SET v = v + 1;";

/**
 * The same pages through strata's helper (issue 14 item 4): up()'s second argument walks the
 * table by key and writes each page back with one statement.
 */
export const TS_HELPER = `// Data migration: new values computed in TypeScript, paged and written back by strata's updateInBatches.
export async function up(tx, { updateInBatches }) {
  await updateInBatches({ table: "big", set: ["v"], update: (row) => ({ v: row.v + 1 }) });
}
`;
