-- Revert the initial schema: children before parents.
DROP TABLE bookings;
DROP TABLE clients;
DROP TABLE specialists;
