ALTER TABLE specialists DROP COLUMN bio;
