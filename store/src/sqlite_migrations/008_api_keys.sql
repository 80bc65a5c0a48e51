-- Personal API keys (store::ApiKey): the key's SHA-256 digest only; they go with
-- their user.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    requests      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_by_user ON api_keys(user_id, created_at);
