-- Add index to booking client_phone (the guide's "Adding an Index").
CREATE INDEX ix_bookings_client_phone ON bookings (client_phone);
