-- Usage (store::UsageBucket): what kept charges bought, one row per user, UTC
-- hour, model and key (key_id '' for none), added to by the step that ends a
-- charge's hold. It goes with its user.
CREATE TABLE usage (
    user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hour               INTEGER NOT NULL,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    key_id             TEXT NOT NULL DEFAULT '',
    requests           INTEGER NOT NULL,
    tokens_charged     INTEGER NOT NULL,
    prompt_tokens      INTEGER NOT NULL,
    completion_tokens  INTEGER NOT NULL,
    PRIMARY KEY (user_id, hour, provider, model, key_id)
);
CREATE INDEX usage_by_hour ON usage(hour);
