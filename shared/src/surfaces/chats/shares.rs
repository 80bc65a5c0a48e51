//! Share links (API.md §7) on the canonical surface: the shapes of
//! `conversation::shares`' operations.

use crate::conversation::owned_chat;
use crate::conversation::shares;
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::cursor::List;
use crate::http::pagination::{next_link, Pager};
use crate::http::reply::Reply;
use crate::surfaces::chats::shapes::shares::{share_url, CreatedShare, ShareView, SharedChatView, SharedMessageView};
use crate::surfaces::shapes::Notice;
use crate::time::iso;

/// `POST /api/chats/{chat_id}/share/` → 201 `{share_id, url, …}`.
pub async fn create_share(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let chat = owned_chat(call.state.chats(), user, call.path_uuid("chat_id")?).await?;
    let (link, messages) =
        shares::share_chat(call.state.shares(), call.state.messages(), user, &chat, call.now).await?;
    Reply::created(CreatedShare {
        url: share_url(&link.share_id),
        share_id: link.share_id,
        chat_id: link.chat_id,
        shared_at: iso(link.created_at),
        messages: messages.len(),
    })
}

/// `GET /api/shared/{share_id}/`, without authentication: the snapshot. An
/// unknown or revoked link, or one of a deactivated account, is a 404.
pub async fn get_shared(call: &Call<'_>) -> Result<Reply, ApiError> {
    let share_id = call.path_param("share_id");
    let (link, messages) = shares::shared_chat(call.state.shares(), call.state.accounts(), share_id).await?;
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
    let links = shares::list_shares(call.state.shares(), user, pager.store_page()).await?;
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
    shares::revoke_share(call.state.shares(), call.user()?, call.path_param("share_id")).await?;
    Reply::ok(Notice::new("Share link revoked."))
}
