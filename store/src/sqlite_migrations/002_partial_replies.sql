-- Streamed replies the client left before the end are kept, marked partial.
ALTER TABLE messages ADD COLUMN partial INTEGER NOT NULL DEFAULT 0;
