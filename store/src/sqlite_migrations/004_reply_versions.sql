-- The version of a user message's replies: storing a reply checks and advances it,
-- so of two concurrent regenerations of one message exactly one is kept.
ALTER TABLE messages ADD COLUMN reply_version INTEGER NOT NULL DEFAULT 0;
