-- Idempotency keys (store::KeyedRequest): one row per user and key digest, the
-- first answer kept once there is one. Rows past expires_at are deleted by the
-- next claim; they go with their user.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_digest      TEXT NOT NULL,
    request_digest  TEXT NOT NULL,
    claim           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    running_until   INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    body            TEXT,
    PRIMARY KEY (user_id, key_digest)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at);
