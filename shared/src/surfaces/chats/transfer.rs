//! `GET /api/export/` and `POST /api/import/`: the caller's chats as one document,
//! and documents read back into new chats (`conversation::transfer`).

use crate::conversation::chats;
use crate::conversation::transfer::{self, parents_first, FORMAT, VERSION};
use crate::error::ApiError;
use crate::http::body::{parse_document, MAX_IMPORT_BYTES};
use crate::http::call::Call;
use crate::http::reply::Reply;
use crate::store::{Chat, ChatQuery, ROOT_PARENT};
use crate::surfaces::chats::shapes::transfer::*;
use crate::time::iso;

use crate::surfaces::chats::chat::page_of_chats;

/// A page of the caller's chats, newest first, each with its whole tree; the page
/// ends early rather than pass the response budget.
pub async fn export_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let (chats, mut paging) = page_of_chats(call, user, &ChatQuery::default()).await?;
    let mut exported = Vec::with_capacity(chats.len());
    for chat in &chats {
        let view = export_chat(call, chat).await?;
        // A chat that does not fit starts the next page, unless it is the first.
        if !paging.budget.take(&view) && !exported.is_empty() {
            break;
        }
        exported.push(view);
    }
    Reply::ok(ExportDocument {
        format: FORMAT,
        version: VERSION,
        next_cursor: paging.next_cursor(exported.len()),
        chats: exported,
    })
}

async fn export_chat(call: &Call<'_>, chat: &Chat) -> Result<ExportChat, ApiError> {
    let tree = chats::tree_of(call.state.messages(), chat).await?;
    let messages = parents_first(&tree)
        .into_iter()
        .map(|m| ExportMessage {
            id: m.id,
            parent_id: tree.parent_of(m.id).filter(|p| *p != ROOT_PARENT),
            role: m.role.as_str().to_string(),
            content: m.content.clone(),
            created_at: iso(m.created_at),
            provider: m.provider.clone(),
            model: m.model.clone(),
            active: !m.superseded,
        })
        .collect();
    Ok(ExportChat {
        id: chat.id,
        title: chat.title.clone(),
        created_at: iso(chat.created_at),
        messages,
    })
}

/// Reads the whole document first (a problem is a 400 naming where, and nothing
/// is stored), then stores its chats as new ones; nothing is charged.
pub async fn import_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let document = parse_document(call.body_bytes(), call.header("content-type"), MAX_IMPORT_BYTES)?;
    let chats = transfer::read_document(&document, call.now)
        .map_err(|err| ApiError::invalid_field(&err.at, format!("{}: {}", err.at, err.problem)))?;
    match transfer::import(call.state.chats(), user.id, &chats).await {
        Ok(ids) => Reply::created(ImportResponse {
            imported: ids.len(),
            chat_ids: ids,
        }),
        Err((stored, err)) => {
            let names: Vec<String> = stored.iter().map(ToString::to_string).collect();
            Err(ApiError::from(err)
                .with("imported", stored.len())
                .with("chat_ids", names))
        }
    }
}
