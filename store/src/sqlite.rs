//! The SQLite store: one file, created and migrated on open, shared safely by the
//! several function processes `cargo lambda watch` runs (WAL mode, a busy timeout,
//! and every multi-statement change in an immediate transaction).
//!
//! rusqlite is synchronous, so every call runs on a blocking thread with the
//! process's one connection.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use rusqlite_migration::{Migrations, M};
use std::path::Path;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use super::{
    Accounts, AuthToken, Balances, Chat, ChatQuery, Chats, Hold, Limits, Message, Messages, Page, ReplyOutcome, Role,
    Settled, Spent, Store, StoreError, StoreResult, Tokens, User, UserChanges,
};
use rusqlite::types::Value as SqlValue;

mod api_keys;
mod idempotency_keys;
mod shares;
mod usage;

const MIGRATIONS: &[&str] = &[
    include_str!("sqlite_migrations/001_initial.sql"),
    include_str!("sqlite_migrations/002_partial_replies.sql"),
    include_str!("sqlite_migrations/003_chat_numbers.sql"),
    include_str!("sqlite_migrations/004_reply_versions.sql"),
    include_str!("sqlite_migrations/005_admin_role.sql"),
    include_str!("sqlite_migrations/006_holds.sql"),
    include_str!("sqlite_migrations/007_idempotency_keys.sql"),
    include_str!("sqlite_migrations/008_api_keys.sql"),
    include_str!("sqlite_migrations/009_usage.sql"),
    include_str!("sqlite_migrations/010_shares.sql"),
    include_str!("sqlite_migrations/011_message_tree.sql"),
];

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        Self::prepare(conn)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> anyhow::Result<Self> {
        Self::prepare(Connection::open_in_memory()?)
    }

    fn prepare(mut conn: Connection) -> anyhow::Result<Self> {
        // Writes take milliseconds: a lock held for seconds is a stuck or dead
        // writer, and the request is better answered 503 than kept waiting.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let migrations = Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect());
        migrations.to_latest(&mut conn).context("migrating the SQLite schema")?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T, F>(&self, op: &'static str, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let span = tracing::debug_span!("sqlite", op);
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            // A poisoned lock only means another call panicked mid-way; SQLite's own
            // transactions kept the data consistent, so the connection is still good.
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Internal(anyhow::anyhow!("store task failed: {e}")))?
    }
}

fn insert_chat(conn: &Connection, c: &Chat) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO chats (id, user_id, number, title, created_at, end_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            c.id.to_string(),
            c.user_id.to_string(),
            c.number,
            c.title,
            millis(c.created_at),
            c.end_time.map(millis)
        ],
    )
    .map_err(unique_violation)?;
    Ok(())
}

fn insert_message(conn: &Connection, m: &Message) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO messages (id, chat_id, role, content, created_at, edited_at, provider, model, reply_to, superseded, partial, reply_version, parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            m.id.to_string(),
            m.chat_id.to_string(),
            m.role.as_str(),
            m.content,
            millis(m.created_at),
            m.edited_at.map(millis),
            m.provider,
            m.model,
            m.reply_to.map(|id| id.to_string()),
            m.superseded,
            m.partial,
            m.reply_version,
            m.parent_id.map(|id| id.to_string())
        ],
    )
    .map_err(sqlite_error)?;
    Ok(())
}

/// A failure that may pass (the file busy or locked past the busy timeout, the disk
/// full, the file read-only or unreadable for now) is `Unavailable`; anything else is
/// a bug or a broken file.
fn sqlite_error(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    if let rusqlite::Error::SqliteFailure(failure, _) = &err {
        if matches!(
            failure.code,
            DatabaseBusy | DatabaseLocked | DiskFull | ReadOnly | SystemIoFailure | CannotOpen | OutOfMemory
        ) {
            return StoreError::Unavailable(format!("SQLite: {err}"));
        }
    }
    StoreError::Internal(err.into())
}

/// Maps a UNIQUE violation to a conflict on the API field it protects.
fn unique_violation(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, Some(message)) = &err {
        if code.code == rusqlite::ErrorCode::ConstraintViolation {
            if message.contains("users.username_key") {
                return StoreError::Conflict { field: "username" };
            }
            if message.contains("users.email_key") {
                return StoreError::Conflict { field: "email" };
            }
            if message.contains("chats.number") {
                return StoreError::Conflict { field: "number" };
            }
            if message.contains("chats.id") {
                return StoreError::Conflict { field: "chat_id" };
            }
        }
    }
    sqlite_error(err)
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn uuid_col(row: &Row, idx: &str) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn lower(value: &str) -> String {
    value.to_lowercase()
}

const USER_COLUMNS: &str =
    "id, username, email, password_hash, date_joined, is_active, is_admin, time_zone, tokens, spent, requests";

fn user_from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: uuid_col(row, "id")?,
        username: row.get("username")?,
        email: row.get("email")?,
        password_hash: row.get("password_hash")?,
        date_joined: from_millis(row.get("date_joined")?),
        is_active: row.get("is_active")?,
        is_admin: row.get("is_admin")?,
        time_zone: row.get("time_zone")?,
        tokens: row.get("tokens")?,
        spent: row.get("spent")?,
        requests: row.get("requests")?,
    })
}

const CHAT_COLUMNS: &str = "id, user_id, number, title, created_at, end_time";

fn chat_from_row(row: &Row) -> rusqlite::Result<Chat> {
    Ok(Chat {
        id: uuid_col(row, "id")?,
        user_id: uuid_col(row, "user_id")?,
        number: row.get("number")?,
        title: row.get("title")?,
        created_at: from_millis(row.get("created_at")?),
        end_time: row.get::<_, Option<i64>>("end_time")?.map(from_millis),
    })
}

const MESSAGE_COLUMNS: &str =
    "id, chat_id, role, content, created_at, edited_at, provider, model, reply_to, superseded, partial, reply_version, parent_id";

fn message_from_row(row: &Row) -> rusqlite::Result<Message> {
    let role: String = row.get("role")?;
    let reply_to: Option<String> = row.get("reply_to")?;
    let parent_id: Option<String> = row.get("parent_id")?;
    Ok(Message {
        id: uuid_col(row, "id")?,
        chat_id: uuid_col(row, "chat_id")?,
        role: Role::parse(&role).unwrap_or(Role::User),
        content: row.get("content")?,
        created_at: from_millis(row.get("created_at")?),
        edited_at: row.get::<_, Option<i64>>("edited_at")?.map(from_millis),
        provider: row.get("provider")?,
        model: row.get("model")?,
        reply_to: reply_to.and_then(|id| Uuid::parse_str(&id).ok()),
        superseded: row.get("superseded")?,
        partial: row.get("partial")?,
        reply_version: row.get("reply_version")?,
        parent_id: parent_id.and_then(|id| Uuid::parse_str(&id).ok()),
    })
}

/// Escapes LIKE wildcards so a search for `50%` finds that text only.
fn like_pattern(term: &str) -> String {
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.run("ping", |conn| {
            conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sqlite_error)
        })
        .await
    }
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let u = user.clone();
        self.run("create_user", move |conn| {
            conn.execute(
                "INSERT INTO users (id, username, username_key, email, email_key, password_hash, date_joined,
                                    is_active, is_admin, time_zone, tokens, spent, requests)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    u.id.to_string(),
                    u.username,
                    lower(&u.username),
                    u.email,
                    u.email.as_deref().map(lower),
                    u.password_hash,
                    millis(u.date_joined),
                    u.is_active,
                    u.is_admin,
                    u.time_zone,
                    u.tokens,
                    u.spent,
                    u.requests
                ],
            )
            .map_err(unique_violation)?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.run("user_by_id", move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id.to_string()],
                user_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let key = lower(username);
        self.run("user_by_username", move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = ?1"),
                [key],
                user_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let key = lower(email);
        self.run("user_by_email", move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = ?1"),
                [key],
                user_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn update_user(&self, id: Uuid, changes: &UserChanges) -> StoreResult<()> {
        let changes = changes.clone();
        self.run("update_user", move |conn| {
            let mut sets: Vec<&str> = Vec::new();
            let mut values: Vec<SqlValue> = Vec::new();
            if let Some(email) = &changes.email {
                sets.extend(["email = ?", "email_key = ?"]);
                values.push(email.clone().into());
                values.push(email.as_deref().map(lower).into());
            }
            if let Some(zone) = &changes.time_zone {
                sets.push("time_zone = ?");
                values.push(zone.clone().into());
            }
            if let Some(password) = &changes.password {
                sets.push("password_hash = ?");
                values.push(password.to.clone().into());
            }
            if let Some(active) = changes.is_active {
                sets.push("is_active = ?");
                values.push(active.into());
            }
            if let Some(admin) = changes.is_admin {
                sets.push("is_admin = ?");
                values.push(admin.into());
            }
            if sets.is_empty() {
                return Ok(());
            }
            let mut sql = format!("UPDATE users SET {} WHERE id = ?", sets.join(", "));
            values.push(id.to_string().into());
            if let Some(password) = &changes.password {
                sql.push_str(" AND password_hash = ?");
                values.push(password.from.clone().into());
            }
            let updated = conn
                .execute(&sql, rusqlite::params_from_iter(values))
                .map_err(unique_violation)?;
            if updated == 0 && changes.password.is_some() {
                let exists = conn
                    .query_row("SELECT 1 FROM users WHERE id = ?1", [id.to_string()], |_| Ok(()))
                    .optional()
                    .map_err(sqlite_error)?
                    .is_some();
                if exists {
                    return Err(StoreError::Conflict { field: "password" });
                }
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<()> {
        self.run("delete_user", move |conn| {
            // Tokens, chats and (through chats) messages go with the user by cascade.
            conn.execute("DELETE FROM users WHERE id = ?1", [id.to_string()])
                .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn admins(&self) -> StoreResult<Vec<User>> {
        self.run("admins", |conn| {
            let mut statement = conn
                .prepare(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE is_admin = 1 ORDER BY username_key"
                ))
                .map_err(sqlite_error)?;
            let admins = statement
                .query_map([], user_from_row)
                .map_err(sqlite_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sqlite_error)?;
            Ok(admins)
        })
        .await
    }
}

#[async_trait]
impl Tokens for SqliteStore {
    async fn insert_token(&self, token: &AuthToken) -> StoreResult<()> {
        let t = token.clone();
        self.run("insert_token", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            // Expired tokens of this user are dead weight; drop them as a new one arrives.
            tx.execute(
                "DELETE FROM auth_tokens WHERE user_id = ?1 AND expires_at <= ?2",
                params![t.user_id.to_string(), millis(t.created_at)],
            )
            .map_err(sqlite_error)?;
            tx.execute(
                "INSERT INTO auth_tokens (digest, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    t.digest,
                    t.user_id.to_string(),
                    millis(t.created_at),
                    millis(t.expires_at)
                ],
            )
            .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)
        })
        .await
    }

    async fn user_by_token(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        let digest = digest.to_string();
        self.run("user_by_token", move |conn| {
            let columns = USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            conn.query_row(
                &format!(
                    "SELECT {columns} FROM auth_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.digest = ?1 AND t.expires_at > ?2"
                ),
                params![digest, millis(now)],
                user_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn delete_token(&self, digest: &str) -> StoreResult<()> {
        let digest = digest.to_string();
        self.run("delete_token", move |conn| {
            conn.execute("DELETE FROM auth_tokens WHERE digest = ?1", [digest])
                .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn delete_tokens_of(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<()> {
        let keep = keep.unwrap_or("").to_string();
        self.run("delete_tokens_of", move |conn| {
            conn.execute(
                "DELETE FROM auth_tokens WHERE user_id = ?1 AND digest <> ?2",
                params![user_id.to_string(), keep],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Balances for SqliteStore {
    async fn charge(&self, hold: &Hold) -> StoreResult<bool> {
        let hold = hold.clone();
        self.run("charge", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            // A charge asked again after it landed (its answer lost) takes nothing
            // more: its hold is the proof it was taken.
            let held: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM holds WHERE id = ?1)",
                    params![hold.id.to_string()],
                    |row| row.get(0),
                )
                .map_err(sqlite_error)?;
            if held {
                return Ok(true);
            }
            // One conditional statement: the check and the take cannot be split by
            // another request, so concurrent charges can never overdraw.
            let tokens: Option<i64> = tx
                .query_row(
                    "UPDATE users SET tokens = tokens - ?2, spent = spent + ?2, requests = requests + 1
                     WHERE id = ?1 AND tokens >= ?2 RETURNING tokens",
                    params![hold.user_id.to_string(), hold.cost],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sqlite_error)?;
            if tokens.is_some() {
                insert_hold(&tx, &hold)?;
            }
            tx.commit().map_err(sqlite_error)?;
            Ok(tokens.is_some())
        })
        .await
    }

    async fn refund(&self, hold: &Hold) -> StoreResult<Settled> {
        let hold = hold.clone();
        self.run("refund", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            if !end_hold(&tx, &hold)? {
                return Ok(Settled::Before);
            }
            tx.execute(
                "UPDATE users SET tokens = tokens + ?2, spent = spent - ?2, requests = requests - 1 WHERE id = ?1",
                params![hold.user_id.to_string(), hold.cost],
            )
            .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)?;
            Ok(Settled::Now)
        })
        .await
    }

    async fn settle(&self, hold: &Hold, spent: &Spent) -> StoreResult<Settled> {
        let (hold, spent) = (hold.clone(), spent.clone());
        self.run("settle", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            if !end_hold(&tx, &hold)? {
                return Ok(Settled::Before);
            }
            usage::add_usage(&tx, &hold, &spent)?;
            tx.commit().map_err(sqlite_error)?;
            Ok(Settled::Now)
        })
        .await
    }

    async fn stale_holds(&self, user_id: Uuid, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Hold>> {
        self.run("stale_holds", move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT id, user_id, cost, created_at, stale_at FROM holds
                     WHERE user_id = ?1 AND stale_at <= ?2 ORDER BY stale_at, id LIMIT ?3",
                )
                .map_err(sqlite_error)?;
            let rows = statement
                .query_map(
                    params![
                        user_id.to_string(),
                        millis(now),
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |row| {
                        Ok(Hold {
                            id: uuid_col(row, "id")?,
                            user_id: uuid_col(row, "user_id")?,
                            cost: row.get("cost")?,
                            created_at: from_millis(row.get("created_at")?),
                            stale_at: from_millis(row.get("stale_at")?),
                        })
                    },
                )
                .map_err(sqlite_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sqlite_error)
        })
        .await
    }
}

fn insert_hold(conn: &Connection, hold: &Hold) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO holds (id, user_id, cost, created_at, stale_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            hold.id.to_string(),
            hold.user_id.to_string(),
            hold.cost,
            millis(hold.created_at),
            millis(hold.stale_at)
        ],
    )
    .map_err(sqlite_error)?;
    Ok(())
}

/// Removes the hold; false when it had ended already.
fn end_hold(conn: &Connection, hold: &Hold) -> StoreResult<bool> {
    let removed = conn
        .execute("DELETE FROM holds WHERE id = ?1", [hold.id.to_string()])
        .map_err(sqlite_error)?;
    Ok(removed > 0)
}

#[async_trait]
impl Limits for SqliteStore {
    async fn count_hit(&self, key: &str, expires_at: DateTime<Utc>) -> StoreResult<u64> {
        let key = key.to_string();
        self.run("count_hit", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            tx.execute("DELETE FROM rate_limits WHERE expires_at <= ?1", [millis(Utc::now())])
                .map_err(sqlite_error)?;
            let hits: i64 = tx
                .query_row(
                    "INSERT INTO rate_limits (key, hits, expires_at) VALUES (?1, 1, ?2)
                     ON CONFLICT(key) DO UPDATE SET hits = hits + 1 RETURNING hits",
                    params![key, millis(expires_at)],
                    |row| row.get(0),
                )
                .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)?;
            Ok(hits.max(0) as u64)
        })
        .await
    }
}

#[async_trait]
impl Chats for SqliteStore {
    async fn next_chat_number(&self, user_id: Uuid) -> StoreResult<i64> {
        self.run("next_chat_number", move |conn| {
            conn.query_row(
                "UPDATE users SET chat_numbers = chat_numbers + 1 WHERE id = ?1 RETURNING chat_numbers",
                [user_id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(sqlite_error)?
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("no user {user_id} to number a chat of")))
        })
        .await
    }

    async fn create_chat(&self, chat: &Chat) -> StoreResult<()> {
        let c = chat.clone();
        self.run("create_chat", move |conn| insert_chat(conn, &c)).await
    }

    async fn import_chat(&self, chat: &Chat, messages: &[Message]) -> StoreResult<()> {
        let (c, messages) = (chat.clone(), messages.to_vec());
        self.run("import_chat", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            insert_chat(&tx, &c)?;
            for message in &messages {
                insert_message(&tx, message)?;
            }
            tx.commit().map_err(sqlite_error)
        })
        .await
    }

    async fn chat(&self, id: Uuid) -> StoreResult<Option<Chat>> {
        self.run("chat", move |conn| {
            conn.query_row(
                &format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?1"),
                [id.to_string()],
                chat_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn chat_by_number(&self, user_id: Uuid, number: i64) -> StoreResult<Option<Chat>> {
        self.run("chat_by_number", move |conn| {
            conn.query_row(
                &format!("SELECT {CHAT_COLUMNS} FROM chats WHERE user_id = ?1 AND number = ?2"),
                params![user_id.to_string(), number],
                chat_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn open_chat(&self, user_id: Uuid) -> StoreResult<Option<Chat>> {
        self.run("open_chat", move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {CHAT_COLUMNS} FROM chats WHERE user_id = ?1 AND end_time IS NULL
                     ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                [user_id.to_string()],
                chat_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn list_chats(&self, user_id: Uuid, query: &ChatQuery, page: Page) -> StoreResult<Vec<Chat>> {
        let query = query.clone();
        self.run("list_chats", move |conn| {
            let mut sql = format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE user_id = ?1");
            let mut args: Vec<rusqlite::types::Value> = vec![user_id.to_string().into()];
            let mut arg = |sql: &mut String, clause: &str, value: rusqlite::types::Value| {
                args.push(value);
                sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
            };
            if let Some(session) = query.session_id {
                arg(&mut sql, " AND id = ?", session.to_string().into());
            }
            if let Some(from) = query.created_from {
                arg(&mut sql, " AND created_at >= ?", millis(from).into());
            }
            if let Some(to) = query.created_to {
                arg(&mut sql, " AND created_at < ?", millis(to).into());
            }
            if let Some(term) = query.search.as_deref().filter(|t| !t.is_empty()) {
                arg(
                    &mut sql,
                    " AND (title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.content LIKE ? ESCAPE '\\'))",
                    like_pattern(term).into(),
                );
            }
            if let Some(after) = page.after {
                arg(
                    &mut sql,
                    " AND (created_at, id) < (SELECT created_at, id FROM chats WHERE id = ? AND user_id = c.user_id)",
                    after.to_string().into(),
                );
            }
            arg(&mut sql, " ORDER BY created_at DESC, id DESC LIMIT ?", (page.limit as i64).into());
            let mut stmt = conn.prepare(&sql).map_err(sqlite_error)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), chat_from_row).map_err(sqlite_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn update_chat(&self, chat: &Chat) -> StoreResult<()> {
        let c = chat.clone();
        self.run("update_chat", move |conn| {
            conn.execute(
                "UPDATE chats SET title = ?2, end_time = ?3 WHERE id = ?1",
                params![c.id.to_string(), c.title, c.end_time.map(millis)],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn delete_chat(&self, id: Uuid) -> StoreResult<()> {
        self.run("delete_chat", move |conn| {
            conn.execute("DELETE FROM chats WHERE id = ?1", [id.to_string()])
                .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn delete_chats_of(&self, user_id: Uuid) -> StoreResult<u64> {
        self.run("delete_chats_of", move |conn| {
            let n = conn
                .execute("DELETE FROM chats WHERE user_id = ?1", [user_id.to_string()])
                .map_err(sqlite_error)?;
            Ok(n as u64)
        })
        .await
    }
}

#[async_trait]
impl Messages for SqliteStore {
    async fn add_message(&self, message: &Message) -> StoreResult<()> {
        let m = message.clone();
        self.run("add_message", move |conn| insert_message(conn, &m)).await
    }

    async fn add_reply(
        &self,
        reply: &Message,
        question: &Message,
        earlier: &[Message],
        followers: &[Message],
        hold: &Hold,
        spent: &Spent,
    ) -> StoreResult<ReplyOutcome> {
        let (reply, question, hold, spent) = (reply.clone(), question.clone(), hold.clone(), spent.clone());
        let earlier: Vec<String> = earlier.iter().map(|m| m.id.to_string()).collect();
        let followers: Vec<String> = followers.iter().map(|m| m.id.to_string()).collect();
        self.run("add_reply", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            let (chat_id, question_id) = (question.chat_id.to_string(), question.id.to_string());
            let advanced = tx
                .execute(
                    "UPDATE messages SET reply_version = reply_version + 1
                     WHERE chat_id = ?1 AND id = ?2 AND reply_version = ?3",
                    params![chat_id, question_id, question.reply_version],
                )
                .map_err(sqlite_error)?;
            if advanced == 0 {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM messages WHERE chat_id = ?1 AND id = ?2",
                        [&chat_id, &question_id],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(sqlite_error)?
                    .is_some();
                return Ok(if exists {
                    ReplyOutcome::Raced
                } else {
                    ReplyOutcome::QuestionGone
                });
            }
            // Dropping `tx` rolls the version back: nothing is written unpaid.
            if !end_hold(&tx, &hold)? {
                return Ok(ReplyOutcome::Unpaid);
            }
            usage::add_usage(&tx, &hold, &spent)?;
            insert_message(&tx, &reply)?;
            for id in &earlier {
                tx.execute(
                    "UPDATE messages SET superseded = 1 WHERE chat_id = ?1 AND id = ?2",
                    [&chat_id, id],
                )
                .map_err(sqlite_error)?;
            }
            let reply_id = reply.id.to_string();
            for id in &followers {
                tx.execute(
                    "UPDATE messages SET parent_id = ?3 WHERE chat_id = ?1 AND id = ?2",
                    [&chat_id, id, &reply_id],
                )
                .map_err(sqlite_error)?;
            }
            tx.commit().map_err(sqlite_error)?;
            Ok(ReplyOutcome::Stored)
        })
        .await
    }

    async fn message(&self, chat_id: Uuid, id: Uuid) -> StoreResult<Option<Message>> {
        self.run("message", move |conn| {
            conn.query_row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND id = ?2"),
                [chat_id.to_string(), id.to_string()],
                message_from_row,
            )
            .optional()
            .map_err(sqlite_error)
        })
        .await
    }

    async fn list_messages(&self, chat_id: Uuid, page: Page) -> StoreResult<Vec<Message>> {
        self.run("list_messages", move |conn| {
            let after = page.after.map(|id| id.to_string());
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE chat_id = ?1 AND superseded = 0
                       AND (?2 IS NULL OR (created_at, id) > (SELECT created_at, id FROM messages WHERE id = ?2 AND chat_id = ?1))
                     ORDER BY created_at, id LIMIT ?3"
                ))
                .map_err(sqlite_error)?;
            let rows = stmt
                .query_map(params![chat_id.to_string(), after, page.limit as i64], message_from_row)
                .map_err(sqlite_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn recent_messages(&self, chat_id: Uuid, up_to: Option<&Message>, limit: usize) -> StoreResult<Vec<Message>> {
        let up_to = up_to.map(|m| (millis(m.created_at), m.id.to_string()));
        self.run("recent_messages", move |conn| {
            let (up_to_time, up_to_id) = up_to.unzip();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND superseded = 0
                       AND (?2 IS NULL OR (created_at, id) <= (?2, ?3))
                     ORDER BY created_at DESC, id DESC LIMIT ?4"
                ))
                .map_err(sqlite_error)?;
            let rows = stmt
                .query_map(
                    params![chat_id.to_string(), up_to_time, up_to_id, limit as i64],
                    message_from_row,
                )
                .map_err(sqlite_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn replies_to(&self, chat_id: Uuid, user_message: Uuid) -> StoreResult<Vec<Message>> {
        self.run("replies_to", move |conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND reply_to = ?2 ORDER BY created_at, id"
                ))
                .map_err(sqlite_error)?;
            let rows = stmt
                .query_map(params![chat_id.to_string(), user_message.to_string()], message_from_row)
                .map_err(sqlite_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn chat_messages(&self, chat_id: Uuid) -> StoreResult<Vec<Message>> {
        self.run("chat_messages", move |conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 ORDER BY created_at, id"
                ))
                .map_err(sqlite_error)?;
            let rows = stmt
                .query_map([chat_id.to_string()], message_from_row)
                .map_err(sqlite_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn switch_branch(
        &self,
        chat_id: Uuid,
        add: Option<&Message>,
        on: &[Message],
        off: &[Message],
    ) -> StoreResult<bool> {
        let add = add.cloned();
        let flips: Vec<(String, bool)> = on
            .iter()
            .map(|m| (m.id.to_string(), false))
            .chain(off.iter().map(|m| (m.id.to_string(), true)))
            .collect();
        self.run("switch_branch", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            let chat = chat_id.to_string();
            let live = tx
                .query_row("SELECT 1 FROM chats WHERE id = ?1", [&chat], |_| Ok(()))
                .optional()
                .map_err(sqlite_error)?
                .is_some();
            if !live {
                return Ok(false);
            }
            if let Some(message) = &add {
                insert_message(&tx, message)?;
            }
            for (id, superseded) in &flips {
                let changed = tx
                    .execute(
                        // Only while placed as read: another switch that came first
                        // makes this one change nothing.
                        "UPDATE messages SET superseded = ?3 WHERE chat_id = ?1 AND id = ?2 AND superseded = NOT ?3",
                        params![chat, id, superseded],
                    )
                    .map_err(sqlite_error)?;
                if changed == 0 {
                    // Dropping `tx` rolls back what was written.
                    return Ok(false);
                }
            }
            tx.commit().map_err(sqlite_error)?;
            Ok(true)
        })
        .await
    }

    async fn update_message(&self, message: &Message) -> StoreResult<()> {
        let m = message.clone();
        self.run("update_message", move |conn| {
            conn.execute(
                "UPDATE messages SET content = ?3, edited_at = ?4, superseded = ?5 WHERE chat_id = ?1 AND id = ?2",
                params![
                    m.chat_id.to_string(),
                    m.id.to_string(),
                    m.content,
                    m.edited_at.map(millis),
                    m.superseded
                ],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before chat numbers existed gets them in creation order,
    /// per user, and the counter continues after the highest.
    #[tokio::test]
    async fn existing_chats_are_numbered_by_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            let before_numbers = MIGRATIONS[..2].iter().map(|sql| M::up(sql)).collect();
            Migrations::new(before_numbers).to_latest(&mut conn).unwrap();
            for (user, name) in [("u1", "alice"), ("u2", "bob")] {
                conn.execute(
                    "INSERT INTO users (id, username, username_key, password_hash, date_joined, tokens)
                     VALUES (?1, ?2, ?2, 'x', 0, 10)",
                    params![Uuid::from_u128(if user == "u1" { 1 } else { 2 }).to_string(), name],
                )
                .unwrap();
            }
            // Alice's chats inserted out of time order; Bob has one.
            for (chat, owner, created) in [(10u128, 1u128, 300i64), (11, 1, 100), (12, 2, 200), (13, 1, 200)] {
                conn.execute(
                    "INSERT INTO chats (id, user_id, created_at) VALUES (?1, ?2, ?3)",
                    params![
                        Uuid::from_u128(chat).to_string(),
                        Uuid::from_u128(owner).to_string(),
                        created
                    ],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let alice = Uuid::from_u128(1);
        let mut found = Vec::new();
        for id in [11u128, 13, 10] {
            found.push(store.chat(Uuid::from_u128(id)).await.unwrap().unwrap().number);
        }
        assert_eq!(found, [1, 2, 3], "oldest first");
        assert_eq!(store.chat(Uuid::from_u128(12)).await.unwrap().unwrap().number, 1);
        assert_eq!(store.next_chat_number(alice).await.unwrap(), 4);
        assert_eq!(store.next_chat_number(Uuid::from_u128(2)).await.unwrap(), 2);
        assert_eq!(
            store.chat_by_number(alice, 3).await.unwrap().unwrap().id,
            Uuid::from_u128(10)
        );
    }
}
