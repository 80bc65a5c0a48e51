//! Idempotency keys on SQLite: a claim is one immediate transaction (so two
//! requests with one key never both take it), which also deletes expired keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use super::{from_millis, millis, sqlite_error, uuid_col, SqliteStore};
use crate::{Claim, IdempotencyKeys, KeptAnswer, KeyedRequest, StoreResult};

fn keyed_from_row(row: &Row) -> rusqlite::Result<KeyedRequest> {
    let status: Option<u16> = row.get("status")?;
    let answer = match status {
        Some(status) => Some(KeptAnswer {
            status,
            content_type: row.get("content_type")?,
            body: row.get::<_, Option<String>>("body")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(KeyedRequest {
        user_id: uuid_col(row, "user_id")?,
        key_digest: row.get("key_digest")?,
        request_digest: row.get("request_digest")?,
        claim: uuid_col(row, "claim")?,
        created_at: from_millis(row.get("created_at")?),
        running_until: from_millis(row.get("running_until")?),
        expires_at: from_millis(row.get("expires_at")?),
        answer,
    })
}

#[async_trait]
impl IdempotencyKeys for SqliteStore {
    async fn claim_key(&self, request: &KeyedRequest, now: DateTime<Utc>) -> StoreResult<Claim> {
        let request = request.clone();
        self.run("claim_key", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            tx.execute(
                "DELETE FROM idempotency_keys WHERE expires_at <= ?1",
                params![millis(now)],
            )
            .map_err(sqlite_error)?;
            let held = tx
                .query_row(
                    "SELECT * FROM idempotency_keys WHERE user_id = ?1 AND key_digest = ?2",
                    params![request.user_id.to_string(), request.key_digest],
                    keyed_from_row,
                )
                .optional()
                .map_err(sqlite_error)?;
            if let Some(held) = held {
                let abandoned =
                    held.answer.is_none() && held.running_until <= now && held.request_digest == request.request_digest;
                if !abandoned {
                    return Ok(Claim::Held(held));
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO idempotency_keys
                   (user_id, key_digest, request_digest, claim, created_at, running_until, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    request.user_id.to_string(),
                    request.key_digest,
                    request.request_digest,
                    request.claim.to_string(),
                    millis(request.created_at),
                    millis(request.running_until),
                    millis(request.expires_at),
                ],
            )
            .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)?;
            Ok(Claim::Taken)
        })
        .await
    }

    async fn finish_key(&self, request: &KeyedRequest, answer: &KeptAnswer) -> StoreResult<()> {
        let (request, answer) = (request.clone(), answer.clone());
        self.run("finish_key", move |conn| {
            conn.execute(
                "UPDATE idempotency_keys SET status = ?4, content_type = ?5, body = ?6
                 WHERE user_id = ?1 AND key_digest = ?2 AND claim = ?3",
                params![
                    request.user_id.to_string(),
                    request.key_digest,
                    request.claim.to_string(),
                    answer.status,
                    answer.content_type,
                    answer.body,
                ],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn release_key(&self, request: &KeyedRequest) -> StoreResult<()> {
        let request = request.clone();
        self.run("release_key", move |conn| {
            conn.execute(
                "DELETE FROM idempotency_keys WHERE user_id = ?1 AND key_digest = ?2 AND claim = ?3",
                params![
                    request.user_id.to_string(),
                    request.key_digest,
                    request.claim.to_string()
                ],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }
}
