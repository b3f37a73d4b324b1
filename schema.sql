-- The calendar app's schema as it should be: strata's equivalent of the SQLAlchemy models.
-- Edit this file, then `strata new "what changed" --autogenerate` writes the migration, and
-- `strata check` confirms that the migrations' head matches it.

CREATE TABLE specialists (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  email TEXT,
  phone TEXT,
  specialty TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  bio TEXT,
  verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1))
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
  state TEXT NOT NULL DEFAULT 'confirmed',
  notes TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (ends_at > starts_at)
);
CREATE INDEX ix_bookings_specialist_id ON bookings (specialist_id);
CREATE INDEX ix_bookings_starts_at ON bookings (starts_at);
CREATE INDEX ix_bookings_client_id ON bookings (client_id);
CREATE INDEX ix_bookings_client_phone ON bookings (client_phone);

CREATE TABLE invoices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  booking_id INTEGER NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
  number TEXT NOT NULL UNIQUE,
  amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
  currency TEXT NOT NULL DEFAULT 'EUR',
  issued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  paid_at TEXT
);
CREATE INDEX ix_invoices_booking_id ON invoices (booking_id);
