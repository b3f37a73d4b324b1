-- Initial schema of the calendar app: specialists, clients and their bookings.
-- (Alembic revision 77fb5ce9d2e1, "created and stamped" on the existing database.)

CREATE TABLE specialists (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  email TEXT,
  phone TEXT,
  specialty TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX ix_specialists_email ON specialists (email);

CREATE TABLE clients (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  email TEXT,
  phone TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX ix_clients_email ON clients (email);

CREATE TABLE bookings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  specialist_id INTEGER NOT NULL REFERENCES specialists (id) ON DELETE CASCADE,
  client_id INTEGER REFERENCES clients (id) ON DELETE SET NULL,
  client_name TEXT NOT NULL,
  client_phone TEXT,
  starts_at TEXT NOT NULL,
  ends_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'confirmed',
  notes TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (ends_at > starts_at)
);
CREATE INDEX ix_bookings_specialist_id ON bookings (specialist_id);
CREATE INDEX ix_bookings_starts_at ON bookings (starts_at);
CREATE INDEX ix_bookings_client_id ON bookings (client_id);
