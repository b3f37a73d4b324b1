// Data migration (the guide's "Data Migrations"): add specialists.verified, set it from email,
// then make it NOT NULL. SQLite cannot change a column's nullability in place, so the table is
// rebuilt (SQLite's documented procedure), keeping its rows, ids, indexes and the foreign keys
// that point at it. strata runs this with foreign-key enforcement off, so dropping the old
// table does not cascade into bookings.
import type { Transaction } from "@libsql/client";

const COLUMNS = "id, name, email, phone, specialty, created_at, bio";

export async function up(tx: Transaction): Promise<void> {
  // 1. Schema change: the new column, nullable at first.
  await tx.execute("ALTER TABLE specialists ADD COLUMN verified INTEGER");
  // 2. Data migration.
  await tx.execute("UPDATE specialists SET verified = CASE WHEN email IS NOT NULL THEN 1 ELSE 0 END");
  // 3. Make it NOT NULL: rebuild the table, keeping the AUTOINCREMENT high-water mark.
  const seq = await tx.execute("SELECT seq FROM sqlite_sequence WHERE name = 'specialists'");
  await tx.batch([
    `CREATE TABLE specialists_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  email TEXT,
  phone TEXT,
  specialty TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  bio TEXT,
  verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1))
)`,
    `INSERT INTO specialists_new (${COLUMNS}, verified) SELECT ${COLUMNS}, verified FROM specialists`,
    "DROP TABLE specialists",
    "ALTER TABLE specialists_new RENAME TO specialists",
    "CREATE UNIQUE INDEX ix_specialists_email ON specialists (email)",
  ]);
  const highWater = seq.rows[0]?.seq;
  if (highWater != null) {
    await tx.batch([
      { sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'specialists'", args: [highWater] },
      {
        sql: "INSERT INTO sqlite_sequence (name, seq) SELECT 'specialists', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'specialists')",
        args: [highWater],
      },
    ]);
  }
}

export async function down(tx: Transaction): Promise<void> {
  await tx.execute("ALTER TABLE specialists DROP COLUMN verified");
}
