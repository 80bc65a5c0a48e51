//! Usage on SQLite: one row per user, hour, model and key, added to inside the
//! transaction that ends a charge's hold.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::{from_millis, millis, sqlite_error, uuid_col, SqliteStore};
use crate::{usage_hour, Hold, Spent, StoreResult, UsageBucket, UsageLog};

/// Adds `hold`'s kept charge, as `spent`, to its user's usage.
pub(super) fn add_usage(conn: &Connection, hold: &Hold, spent: &Spent) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO usage (user_id, hour, provider, model, key_id, requests, tokens_charged, prompt_tokens, completion_tokens)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)
         ON CONFLICT (user_id, hour, provider, model, key_id) DO UPDATE SET
           requests = requests + 1,
           tokens_charged = tokens_charged + excluded.tokens_charged,
           prompt_tokens = prompt_tokens + excluded.prompt_tokens,
           completion_tokens = completion_tokens + excluded.completion_tokens",
        params![
            hold.user_id.to_string(),
            millis(usage_hour(spent.at)),
            spent.provider,
            spent.model,
            spent.key_id.map(|id| id.to_string()).unwrap_or_default(),
            hold.cost,
            spent.prompt_tokens,
            spent.completion_tokens,
        ],
    )
    .map_err(sqlite_error)?;
    Ok(())
}

fn bucket_from_row(row: &Row) -> rusqlite::Result<UsageBucket> {
    let key: String = row.get("key_id")?;
    Ok(UsageBucket {
        user_id: uuid_col(row, "user_id")?,
        hour: from_millis(row.get("hour")?),
        provider: row.get("provider")?,
        model: row.get("model")?,
        key_id: Uuid::parse_str(&key).ok(),
        requests: row.get("requests")?,
        tokens_charged: row.get("tokens_charged")?,
        prompt_tokens: row.get("prompt_tokens")?,
        completion_tokens: row.get("completion_tokens")?,
    })
}

impl SqliteStore {
    /// The buckets of `[from, to)`, of one user or of everyone.
    async fn buckets(
        &self,
        user_id: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        self.run("usage", move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT * FROM usage WHERE hour >= ?1 AND hour < ?2 AND (?3 IS NULL OR user_id = ?3)
                     ORDER BY hour, user_id, provider, model, key_id",
                )
                .map_err(sqlite_error)?;
            let buckets = statement
                .query_map(
                    params![millis(from), millis(to), user_id.map(|id| id.to_string())],
                    bucket_from_row,
                )
                .map_err(sqlite_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sqlite_error)?;
            Ok(buckets)
        })
        .await
    }
}

#[async_trait]
impl UsageLog for SqliteStore {
    async fn usage_of(&self, user_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<UsageBucket>> {
        self.buckets(Some(user_id), from, to).await
    }

    async fn usage_of_everyone(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<UsageBucket>> {
        self.buckets(None, from, to).await
    }
}
