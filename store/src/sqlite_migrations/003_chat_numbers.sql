-- Every chat gets a number within its owner's account (1, 2, 3… in order of
-- creation), handed out by a per-user counter that never goes back, so a deleted
-- chat's number is never reused.
ALTER TABLE users ADD COLUMN chat_numbers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN number INTEGER NOT NULL DEFAULT 0;

UPDATE chats SET number = (
    SELECT COUNT(*) FROM chats AS earlier
    WHERE earlier.user_id = chats.user_id
      AND (earlier.created_at < chats.created_at
           OR (earlier.created_at = chats.created_at AND earlier.id <= chats.id))
);
UPDATE users SET chat_numbers = (
    SELECT COALESCE(MAX(number), 0) FROM chats WHERE chats.user_id = users.id
);

CREATE UNIQUE INDEX chats_by_number ON chats(user_id, number);
