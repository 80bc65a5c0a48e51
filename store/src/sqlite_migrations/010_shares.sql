-- Share links (store::ShareLink): a read-only snapshot of a chat's messages (JSON),
-- found by its public id; they go with their chat and their user.
CREATE TABLE shares (
    share_id    TEXT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id     TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    title       TEXT,
    created_at  INTEGER NOT NULL,
    snapshot    TEXT NOT NULL
);
CREATE INDEX shares_by_user ON shares(user_id, id);
CREATE INDEX shares_by_chat ON shares(chat_id);
