DROP INDEX ix_bookings_client_phone;
