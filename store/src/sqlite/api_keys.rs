//! Personal API keys on SQLite: one row per key, found by its digest.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{from_millis, millis, sqlite_error, unique_violation, user_from_row, uuid_col, SqliteStore, USER_COLUMNS};
use crate::{ApiKey, ApiKeys, StoreResult, User};

fn api_key_from_row(row: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: uuid_col(row, "id")?,
        user_id: uuid_col(row, "user_id")?,
        name: row.get("name")?,
        digest: row.get("digest")?,
        created_at: from_millis(row.get("created_at")?),
        last_used_at: row.get::<_, Option<i64>>("last_used_at")?.map(from_millis),
        requests: row.get("requests")?,
    })
}

#[async_trait]
impl ApiKeys for SqliteStore {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        self.run("create_api_key", move |conn| {
            conn.execute(
                "INSERT INTO api_keys (id, user_id, name, digest, created_at, last_used_at, requests)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.id.to_string(),
                    key.user_id.to_string(),
                    key.name,
                    key.digest,
                    millis(key.created_at),
                    key.last_used_at.map(millis),
                    key.requests,
                ],
            )
            .map_err(unique_violation)?;
            Ok(())
        })
        .await
    }

    async fn api_keys_of(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        self.run("api_keys_of", move |conn| {
            let mut statement = conn
                .prepare("SELECT * FROM api_keys WHERE user_id = ?1 ORDER BY created_at, id")
                .map_err(sqlite_error)?;
            let keys = statement
                .query_map([user_id.to_string()], api_key_from_row)
                .map_err(sqlite_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sqlite_error)?;
            Ok(keys)
        })
        .await
    }

    async fn delete_api_key(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        self.run("delete_api_key", move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM api_keys WHERE id = ?1 AND user_id = ?2",
                    params![id.to_string(), user_id.to_string()],
                )
                .map_err(sqlite_error)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn delete_api_keys_of(&self, user_id: Uuid) -> StoreResult<()> {
        self.run("delete_api_keys_of", move |conn| {
            conn.execute("DELETE FROM api_keys WHERE user_id = ?1", [user_id.to_string()])
                .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn use_api_key(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<(User, Uuid)>> {
        let digest = digest.to_string();
        self.run("use_api_key", move |conn| {
            let used: Option<(Uuid, String)> = conn
                .query_row(
                    "UPDATE api_keys SET requests = requests + 1, last_used_at = ?2 WHERE digest = ?1
                     RETURNING id, user_id",
                    params![digest, millis(now)],
                    |row| Ok((uuid_col(row, "id")?, row.get("user_id")?)),
                )
                .optional()
                .map_err(sqlite_error)?;
            let Some((key_id, user_id)) = used else {
                return Ok(None);
            };
            let user = conn
                .query_row(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                    [user_id],
                    user_from_row,
                )
                .optional()
                .map_err(sqlite_error)?;
            Ok(user.map(|user| (user, key_id)))
        })
        .await
    }
}
