-- Times are integer milliseconds since the Unix epoch (UTC); ids are UUID text.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    username_key   TEXT NOT NULL UNIQUE,     -- lower-cased: names are unique case-insensitively
    email          TEXT,
    email_key      TEXT UNIQUE,
    password_hash  TEXT NOT NULL,
    date_joined    INTEGER NOT NULL,
    is_active      INTEGER NOT NULL DEFAULT 1,
    time_zone      TEXT,
    tokens         INTEGER NOT NULL CHECK (tokens >= 0),
    spent          INTEGER NOT NULL DEFAULT 0,
    requests       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE auth_tokens (
    digest      TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX auth_tokens_by_user ON auth_tokens(user_id);

CREATE TABLE chats (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title       TEXT,
    created_at  INTEGER NOT NULL,
    end_time    INTEGER
);
CREATE INDEX chats_by_user ON chats(user_id, created_at, id);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    chat_id     TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    edited_at   INTEGER,
    provider    TEXT,
    model       TEXT,
    reply_to    TEXT,
    superseded  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_chat ON messages(chat_id, created_at, id);
CREATE INDEX messages_by_reply ON messages(reply_to);

CREATE TABLE rate_limits (
    key         TEXT PRIMARY KEY,
    hits        INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX rate_limits_by_expiry ON rate_limits(expires_at);
