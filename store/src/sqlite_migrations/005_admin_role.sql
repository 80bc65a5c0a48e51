-- The admin role is stored on the account (granted by the operator command,
-- `chatbot-admin`); every existing account starts without it.
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
