//! Share links as the domain sees them (API.md §7): a snapshot of a chat's active
//! branch that anyone with its id may read, which its owner lists and revokes.
//! The snapshot is stored whole, so later edits and deletes of messages leave it
//! as it was; deleting the chat or the account deletes it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::chats::tree_of;
use crate::auth::token;
use crate::store::{
    Accounts, Chat, Messages, Page, ShareLink, SharedMessage, Shares, StoreError, User, MAX_SNAPSHOT_BYTES,
};

/// The most links an account holds: each keeps a copy of its chat (up to
/// `MAX_SNAPSHOT_BYTES`), so their number is bounded as API keys' is.
pub const MAX_SHARES: usize = 100;
/// A share id as this API makes them: 256 random bits, base64url without padding.
pub const SHARE_ID_PATTERN: &str = "^[A-Za-z0-9_-]{43}$";

/// Why a share operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("the account holds {MAX_SHARES} links already")]
    TooMany,
    #[error("the chat's messages pass {MAX_SNAPSHOT_BYTES} bytes")]
    TooLarge,
    /// The chat was deleted while its snapshot was taken.
    #[error("the chat is gone")]
    ChatGone,
    /// Unknown, revoked, someone else's, or its owner is deactivated.
    #[error("no such share link")]
    NoSuchLink,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `id` has the shape of a share id (anything else is no link: no read,
/// and no odd key ever reaches the store).
fn well_formed(id: &str) -> bool {
    id.len() == 43 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Shares `chat` (which `user` owns): its link and the snapshot's messages.
pub async fn share_chat(
    shares: &dyn Shares,
    messages: &dyn Messages,
    user: &User,
    chat: &Chat,
    now: DateTime<Utc>,
) -> Result<(ShareLink, Vec<SharedMessage>), ShareError> {
    if shares.shares_of(user.id, Page::first(MAX_SHARES)).await?.len() >= MAX_SHARES {
        return Err(ShareError::TooMany);
    }
    let snapshot = snapshot(messages, chat).await?;
    let link = ShareLink {
        share_id: token::generate(),
        id: Uuid::now_v7(),
        user_id: user.id,
        chat_id: chat.id,
        title: chat.title.clone(),
        created_at: now,
    };
    if !shares.create_share(&link, &snapshot).await? {
        return Err(ShareError::ChatGone);
    }
    Ok((link, snapshot))
}

/// The chat's active branch, first to last (its tree read once); `TooLarge` as
/// soon as it passes `MAX_SNAPSHOT_BYTES` as stored (one DynamoDB item holds it).
async fn snapshot(messages: &dyn Messages, chat: &Chat) -> Result<Vec<SharedMessage>, ShareError> {
    let tree = tree_of(messages, chat).await?;
    let mut shared = Vec::new();
    // `[` and `]`, and a comma before every message but the first.
    let mut bytes = 2usize;
    for message in tree.active() {
        let one = SharedMessage {
            role: message.role.as_str().to_string(),
            content: message.content.clone(),
            created_at: message.created_at,
        };
        bytes += serde_json::to_string(&one).map_or(0, |json| json.len()) + usize::from(!shared.is_empty());
        if bytes > MAX_SNAPSHOT_BYTES {
            return Err(ShareError::TooLarge);
        }
        shared.push(one);
    }
    Ok(shared)
}

/// The link `share_id` and its snapshot, for anyone: hidden while its owner is
/// deactivated (and back on reactivation).
pub async fn shared_chat(
    shares: &dyn Shares,
    accounts: &dyn Accounts,
    share_id: &str,
) -> Result<(ShareLink, Vec<SharedMessage>), ShareError> {
    if !well_formed(share_id) {
        return Err(ShareError::NoSuchLink);
    }
    let (link, messages) = shares.shared(share_id).await?.ok_or(ShareError::NoSuchLink)?;
    match accounts.user_by_id(link.user_id).await? {
        Some(owner) if owner.is_active => Ok((link, messages)),
        _ => Err(ShareError::NoSuchLink),
    }
}

/// One page of `user`'s links, newest first.
pub async fn list_shares(shares: &dyn Shares, user: &User, page: Page) -> Result<Vec<ShareLink>, StoreError> {
    shares.shares_of(user.id, page).await
}

/// Revokes `user`'s link `share_id` at once for everyone.
pub async fn revoke_share(shares: &dyn Shares, user: &User, share_id: &str) -> Result<(), ShareError> {
    if !well_formed(share_id) || !shares.delete_share(user.id, share_id).await? {
        return Err(ShareError::NoSuchLink);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_ids_are_what_the_token_generator_makes_and_nothing_else() {
        for _ in 0..50 {
            assert!(well_formed(&token::generate()));
        }
        assert!(SHARE_ID_PATTERN.contains("{43}"), "the documented length");
        let long = "a".repeat(44);
        let padded = format!("{}=", "a".repeat(42));
        let accented = "é".repeat(22);
        for bad in [
            "",
            "short",
            &long,
            &padded,
            &accented,
            "../../../../../../../../../../../../../etc/p",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
