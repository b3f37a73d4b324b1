-- Rename booking status to state (the guide's "Renaming a Column": never a drop + add).
ALTER TABLE bookings RENAME COLUMN status TO state;
