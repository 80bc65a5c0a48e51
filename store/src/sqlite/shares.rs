//! Share links on SQLite: one row per link with its snapshot; the foreign keys
//! delete it with its chat or its user.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{from_millis, millis, sqlite_error, unique_violation, uuid_col, SqliteStore};
use crate::{snapshot_from_json, snapshot_json, Page, ShareLink, SharedMessage, Shares, StoreResult};

fn link_from_row(row: &Row) -> rusqlite::Result<ShareLink> {
    Ok(ShareLink {
        share_id: row.get("share_id")?,
        id: uuid_col(row, "id")?,
        user_id: uuid_col(row, "user_id")?,
        chat_id: uuid_col(row, "chat_id")?,
        title: row.get("title")?,
        created_at: from_millis(row.get("created_at")?),
    })
}

#[async_trait]
impl Shares for SqliteStore {
    async fn create_share(&self, link: &ShareLink, messages: &[SharedMessage]) -> StoreResult<bool> {
        let (link, snapshot) = (link.clone(), snapshot_json(messages));
        self.run("create_share", move |conn| {
            // The chat's row is the condition: a chat deleted meanwhile stores nothing.
            let stored = conn
                .execute(
                    "INSERT INTO shares (share_id, id, user_id, chat_id, title, created_at, snapshot)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM chats WHERE id = ?4)",
                    params![
                        link.share_id,
                        link.id.to_string(),
                        link.user_id.to_string(),
                        link.chat_id.to_string(),
                        link.title,
                        millis(link.created_at),
                        snapshot,
                    ],
                )
                .map_err(unique_violation)?;
            Ok(stored > 0)
        })
        .await
    }

    async fn shared(&self, share_id: &str) -> StoreResult<Option<(ShareLink, Vec<SharedMessage>)>> {
        let share_id = share_id.to_string();
        self.run("shared", move |conn| {
            let found = conn
                .query_row("SELECT * FROM shares WHERE share_id = ?1", [share_id], |row| {
                    Ok((link_from_row(row)?, row.get::<_, String>("snapshot")?))
                })
                .optional()
                .map_err(sqlite_error)?;
            found
                .map(|(link, snapshot)| Ok((link, snapshot_from_json(&snapshot)?)))
                .transpose()
        })
        .await
    }

    async fn shares_of(&self, user_id: Uuid, page: Page) -> StoreResult<Vec<ShareLink>> {
        self.run("shares_of", move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT share_id, id, user_id, chat_id, title, created_at FROM shares
                     WHERE user_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                )
                .map_err(sqlite_error)?;
            let links = statement
                .query_map(
                    params![
                        user_id.to_string(),
                        page.after.map(|id| id.to_string()),
                        i64::try_from(page.limit).unwrap_or(i64::MAX)
                    ],
                    link_from_row,
                )
                .map_err(sqlite_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sqlite_error)?;
            Ok(links)
        })
        .await
    }

    async fn delete_share(&self, user_id: Uuid, share_id: &str) -> StoreResult<bool> {
        let share_id = share_id.to_string();
        self.run("delete_share", move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM shares WHERE share_id = ?1 AND user_id = ?2",
                    params![share_id, user_id.to_string()],
                )
                .map_err(sqlite_error)?;
            Ok(deleted > 0)
        })
        .await
    }
}
