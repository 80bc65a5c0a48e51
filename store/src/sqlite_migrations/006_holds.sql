-- The charge of each reply under way (store::Hold): taken with the balance in one
-- transaction, ended by the reply's write or by a refund. Holds left by a failure
-- are refunded once stale; they go with their user.
CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cost        INTEGER NOT NULL CHECK (cost >= 0),
    created_at  INTEGER NOT NULL,
    stale_at    INTEGER NOT NULL
);
CREATE INDEX holds_by_user ON holds(user_id, stale_at);
