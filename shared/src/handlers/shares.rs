//! Share links (API.md §7): `POST /api/chats/{chat_id}/share/` takes a snapshot of
//! the chat's current messages (those `GET /api/chats/{chat_id}/messages/` lists);
//! anyone with the link reads it at `GET /api/shared/{share_id}/` without signing
//! in; the owner lists and revokes links. The snapshot is stored whole, so later
//! edits and deletes of messages leave it as it was; deleting the chat or the
//! account deletes it.

use uuid::Uuid;

use crate::api::shares::{share_url, CreatedShare, ShareView, SharedChatView, SharedMessageView};
use crate::api::Notice;
use crate::auth::token;
use crate::conversation::owned_chat;
use crate::conversation::tree::Tree;
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::cursor::List;
use crate::http::pagination::{next_link, Pager};
use crate::http::reply::Reply;
use crate::store::{Page, ShareLink, SharedMessage, MAX_SNAPSHOT_BYTES};
use crate::time::iso;
use http::StatusCode;

/// The most links an account holds: each keeps a copy of its chat (up to
/// `MAX_SNAPSHOT_BYTES`), so their number is bounded as API keys' is.
pub const MAX_SHARES: usize = 100;
/// A share id as this API makes them: 256 random bits, base64url without padding.
pub const SHARE_ID_PATTERN: &str = "^[A-Za-z0-9_-]{43}$";

/// Whether `id` has the shape of a share id (anything else is no link: 404
/// without a read, and no odd key ever reaches the store).
fn well_formed(id: &str) -> bool {
    id.len() == 43 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn no_such_link() -> ApiError {
    ApiError::not_found("No such share link (it may have been revoked).")
}

/// `POST /api/chats/{chat_id}/share/` → 201 `{share_id, url, …}`.
pub async fn create_share(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let chat = owned_chat(call.state.chats(), user, call.path_uuid("chat_id")?).await?;
    let store = &call.state.store;
    if store.shares_of(user.id, Page::first(MAX_SHARES)).await?.len() >= MAX_SHARES {
        return Err(ApiError::conflict(
            "too_many_shares",
            format!("An account holds at most {MAX_SHARES} share links: revoke one first."),
        ));
    }
    let messages = snapshot(call, chat.id).await?;
    let link = ShareLink {
        share_id: token::generate(),
        id: Uuid::now_v7(),
        user_id: user.id,
        chat_id: chat.id,
        title: chat.title.clone(),
        created_at: call.now,
    };
    if !store.create_share(&link, &messages).await? {
        // Deleted while the snapshot was taken.
        return Err(ApiError::not_found("Chat not found."));
    }
    Reply::created(CreatedShare {
        url: share_url(&link.share_id),
        share_id: link.share_id,
        chat_id: link.chat_id,
        shared_at: iso(link.created_at),
        messages: messages.len(),
    })
}

/// The chat's active branch, first to last (its tree read once); 413 as soon as
/// it passes `MAX_SNAPSHOT_BYTES` as stored (one DynamoDB item holds a snapshot).
async fn snapshot(call: &Call<'_>, chat_id: Uuid) -> Result<Vec<SharedMessage>, ApiError> {
    let tree = Tree::new(call.state.store.chat_messages(chat_id).await?);
    let mut messages = Vec::new();
    // `[` and `]`, and a comma before every message but the first.
    let mut bytes = 2usize;
    for message in tree.active() {
        let shared = SharedMessage {
            role: message.role.as_str().to_string(),
            content: message.content.clone(),
            created_at: message.created_at,
        };
        bytes += serde_json::to_string(&shared).map_or(0, |json| json.len()) + usize::from(!messages.is_empty());
        if bytes > MAX_SNAPSHOT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "chat_too_large_to_share",
                format!(
                    "This chat is too large to share: a link holds at most {MAX_SNAPSHOT_BYTES} bytes of messages. Share a shorter chat."
                ),
            )
            .with("max_bytes", MAX_SNAPSHOT_BYTES));
        }
        messages.push(shared);
    }
    Ok(messages)
}

/// `GET /api/shared/{share_id}/`, without authentication: the snapshot. An
/// unknown or revoked link, or one of a deactivated account, is a 404.
pub async fn get_shared(call: &Call<'_>) -> Result<Reply, ApiError> {
    let share_id = call.path_param("share_id");
    if !well_formed(share_id) {
        return Err(no_such_link());
    }
    let store = &call.state.store;
    let (link, messages) = store.shared(share_id).await?.ok_or_else(no_such_link)?;
    // Hidden while its owner is deactivated (and back on reactivation).
    match store.user_by_id(link.user_id).await? {
        Some(owner) if owner.is_active => {}
        _ => return Err(no_such_link()),
    }
    Ok(Reply::ok(SharedChatView {
        title: link.title,
        shared_at: iso(link.created_at),
        messages: messages.into_iter().map(SharedMessageView::from).collect(),
    })?
    .with_header("cache-control", "no-store")
    .with_header("x-robots-tag", "noindex"))
}

/// `GET /api/shares/`: the caller's links, newest first, paged.
pub async fn list_shares(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let pager = Pager::new(call, List::Shares).await?;
    let links = call.state.store.shares_of(user.id, pager.store_page()).await?;
    let (links, mut paging) = pager.keep(links, |l| l.id);
    let (views, _) = paging.budget.take_leading(links.iter().map(ShareView::from));
    let next = paging.next_cursor(views.len());
    let reply = Reply::ok(views)?;
    Ok(match next {
        Some(cursor) => reply.with_header("link", next_link(call, &cursor)),
        None => reply,
    })
}

/// `DELETE /api/shares/{share_id}/`: revoked at once for everyone; another
/// user's link is a 404.
pub async fn revoke_share(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let share_id = call.path_param("share_id");
    if !well_formed(share_id) || !call.state.store.delete_share(user.id, share_id).await? {
        return Err(no_such_link());
    }
    Reply::ok(Notice::new("Share link revoked."))
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
