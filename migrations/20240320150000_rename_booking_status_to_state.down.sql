ALTER TABLE bookings RENAME COLUMN state TO status;
