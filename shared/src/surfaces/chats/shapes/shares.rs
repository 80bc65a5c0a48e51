//! Share links (API.md §7): a read-only snapshot of a chat, read without signing in.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::{ShareLink, SharedMessage};
use crate::time::iso;

/// The path of a link's page on this API's origin.
pub fn share_url(share_id: &str) -> String {
    format!("/s/{share_id}")
}

/// A new link.
#[derive(Serialize, ToSchema)]
pub struct CreatedShare {
    /// 256 random bits, base64url: whoever has it reads the snapshot.
    pub share_id: String,
    /// The page that shows it, on this API's origin: `/s/{share_id}`. The
    /// snapshot itself is `GET /api/shared/{share_id}/`.
    pub url: String,
    pub chat_id: Uuid,
    /// ISO 8601, UTC.
    pub shared_at: String,
    /// The messages the snapshot holds.
    pub messages: usize,
}

/// A link as its owner lists it.
#[derive(Serialize, ToSchema)]
pub struct ShareView {
    pub share_id: String,
    /// `/s/{share_id}`, on this API's origin.
    pub url: String,
    pub chat_id: Uuid,
    /// The chat's title when it was shared.
    pub title: Option<String>,
    /// ISO 8601, UTC.
    pub shared_at: String,
}

impl From<&ShareLink> for ShareView {
    fn from(link: &ShareLink) -> Self {
        Self {
            share_id: link.share_id.clone(),
            url: share_url(&link.share_id),
            chat_id: link.chat_id,
            title: link.title.clone(),
            shared_at: iso(link.created_at),
        }
    }
}

/// A shared chat as anyone with the link reads it: the title and messages when
/// it was shared, nothing else of the chat or its owner.
#[derive(Serialize, ToSchema)]
pub struct SharedChatView {
    pub title: Option<String>,
    /// ISO 8601, UTC.
    pub shared_at: String,
    /// Oldest first.
    pub messages: Vec<SharedMessageView>,
}

#[derive(Serialize, ToSchema)]
pub struct SharedMessageView {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// ISO 8601, UTC.
    pub created_at: String,
}

impl From<SharedMessage> for SharedMessageView {
    fn from(message: SharedMessage) -> Self {
        Self {
            role: message.role,
            content: message.content,
            created_at: iso(message.created_at),
        }
    }
}
