-- Add specialist bio field (the guide's "Workflow for Schema Changes" example).
ALTER TABLE specialists ADD COLUMN bio TEXT;
