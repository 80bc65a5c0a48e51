use chrono_tz::Tz;
use uuid::Uuid;

use crate::conversation::chats::{self, ChatChange};
use crate::conversation::reply::{self, Ask, Job};
use crate::conversation::{owned_chat, ChatError, Target};
use crate::error::ApiError;
use crate::http::body::{message_content, required};
use crate::http::budget::Budget;
use crate::http::call::{parse_uuid, Call};
use crate::http::cursor::List;
use crate::http::pagination::{next_link, Pager, Paging};
use crate::http::reply::Reply;
use crate::store::{Chat, ChatQuery, User};
use crate::surfaces::chats::shapes::chats::*;
use crate::surfaces::shapes::Notice;
use crate::time::{display, Period};

/// The most turns a chat body carries; the messages route pages through the rest.
pub const CONVERSATION_LIMIT: usize = 500;
pub const MAX_TITLE_CHARS: usize = 200;

/// A chat with as much of its conversation as `budget` leaves room for.
pub(crate) async fn chat_view(
    call: &Call<'_>,
    chat: &Chat,
    zone: Tz,
    budget: &mut Budget,
) -> Result<ChatView, ApiError> {
    let messages = chats::first_messages(call.state.messages(), chat, CONVERSATION_LIMIT).await?;
    Ok(ChatView::build(chat, &messages, zone, budget))
}

/// A response of one chat.
pub(crate) async fn whole_chat_view(call: &Call<'_>, chat: &Chat, zone: Tz) -> Result<ChatView, ApiError> {
    chat_view(call, chat, zone, &mut Budget::body()).await
}

/// What a send request asks for, once parsed and checked.
pub(crate) enum SendAsk {
    /// `end_session: true`: close the chat, no model.
    End(Option<Uuid>),
    /// A message to answer: the reply pipeline's job.
    Send(Box<Job>),
}

/// Parses the body `POST /api/chats/` and its streaming twin share.
pub(crate) fn parse_send(call: &Call<'_>) -> Result<SendAsk, ApiError> {
    let body: SendChatRequest = call.json()?;
    let chat_id = body
        .chat_id
        .as_deref()
        .map(|id| parse_uuid(id, "chat_id"))
        .transpose()?;
    if body.end_session {
        return Ok(SendAsk::End(chat_id));
    }
    message_job(
        call,
        chat_id,
        body.content,
        body.provider.as_deref(),
        body.model.as_deref(),
    )
    .map(|job| SendAsk::Send(Box::new(job)))
}

/// The reply pipeline's job for one message, as the send route and dialect D's
/// prompt routes ask for it: to the chat named (which must still exist) or else
/// the open one, `content` required and checked, on the model chosen.
pub(crate) fn message_job(
    call: &Call<'_>,
    chat_id: Option<Uuid>,
    content: Option<String>,
    provider: Option<&str>,
    model: Option<&str>,
) -> Result<Job, ApiError> {
    let content = message_content(&required(content, "content")?, "content")?;
    let choice = call.state.llm().choose(provider, model)?;
    Ok(Job {
        user: call.user()?.clone(),
        ask: Ask::Message {
            target: chat_id.map(Target::Id).unwrap_or(Target::Open),
            content,
        },
        choice,
        max_new_tokens: None,
        key_id: call.api_key(),
    })
}

pub async fn send_chat(call: &Call<'_>) -> Result<Reply, ApiError> {
    let ask = parse_send(call)?;
    let zone = call.display_zone()?;
    let job = match ask {
        SendAsk::End(chat_id) => return end_session(call, call.user()?, chat_id, zone).await,
        SendAsk::Send(job) => *job,
    };
    let (sent, usage) = reply::whole_in_chat(&call.state.conversations(), job).await?;
    let reply = ReplyView {
        message_id: sent.question.id,
        reply_id: sent.reply.id,
        you: sent.question.content.clone(),
        bot: sent.reply.content.clone(),
        timestamp: display(sent.reply.created_at, zone),
        provider: sent.reply.provider.clone(),
        model: sent.reply.model.clone(),
        usage,
    };
    let body = SendChatResponse {
        chat: whole_chat_view(call, &sent.chat, zone).await?,
        reply,
        tokens_remaining: sent.tokens_remaining,
    };
    if sent.created {
        Reply::created(body)
    } else {
        Reply::ok(body)
    }
}

pub(crate) async fn end_session(
    call: &Call<'_>,
    user: &User,
    chat_id: Option<Uuid>,
    zone: Tz,
) -> Result<Reply, ApiError> {
    let chat = chats::end_session(call.state.chats(), user, chat_id, call.now)
        .await
        .map_err(|err| match err {
            ChatError::NotFound => ApiError::not_found("No active chat session found to end."),
            err => err.into(),
        })?;
    Reply::ok(EndSessionResponse {
        message: "Chat session ended successfully".into(),
        start_time: display(chat.created_at, zone),
        end_time: chat.end_time.map(|t| display(t, zone)),
        session_id: chat.id,
        chat_id: chat.id,
    })
}

/// The longest `?search=` term, in characters: longer is a 400, not a long scan.
pub const MAX_SEARCH_CHARS: usize = 200;

/// `?search=`, trimmed; blank is no search.
pub(crate) fn search_term(call: &Call<'_>) -> Result<Option<String>, ApiError> {
    let Some(term) = call.query_param("search").map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if term.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid_field(
            "search",
            format!("`search` must have at most {MAX_SEARCH_CHARS} characters."),
        ));
    }
    Ok(Some(term.to_string()))
}

pub async fn list_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let zone = call.display_zone()?;
    let mut query = ChatQuery {
        session_id: call
            .query_param("session_id")
            .map(|id| parse_uuid(id, "session_id"))
            .transpose()?,
        search: search_term(call)?,
        ..ChatQuery::default()
    };
    if let Some(period) = call.query_param("period").filter(|p| !p.is_empty()) {
        let (from, to) = Period::parse(period)?.range(call.now, zone);
        query.created_from = Some(from);
        query.created_to = Some(to);
    }
    let (chats, mut paging) = page_of_chats(call, user, &query).await?;
    let mut views: Vec<ChatView> = Vec::with_capacity(chats.len());
    for chat in &chats {
        let view = chat_view(call, chat, zone, &mut paging.budget).await?;
        // A chat that no longer fits whole starts the next page, unless it is the
        // first: that one is shown cut, and says so.
        if view.conversation_truncated && !views.is_empty() {
            break;
        }
        views.push(view);
    }
    let next = paging.next_cursor(views.len());
    let reply = Reply::ok(views)?;
    Ok(match next {
        Some(cursor) => reply.with_header("link", next_link(call, &cursor)),
        None => reply,
    })
}

/// The page of the caller's chats the request's `limit` and `cursor` ask for, and
/// its paging state (the next cursor, the body budget).
pub(crate) async fn page_of_chats<'a>(
    call: &'a Call<'_>,
    user: &User,
    query: &ChatQuery,
) -> Result<(Vec<Chat>, Paging<'a>), ApiError> {
    let pager = Pager::new(call, List::Chats).await?;
    let chats = chats::list_chats(call.state.chats(), user, query, pager.store_page()).await?;
    Ok(pager.keep(chats, |c| c.id))
}

pub async fn get_chat(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat = owned_chat(call.state.chats(), call.user()?, call.path_uuid("chat_id")?).await?;
    Reply::ok(whole_chat_view(call, &chat, call.display_zone()?).await?)
}

pub async fn update_chat(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat_id = call.path_uuid("chat_id")?;
    let body: UpdateChatRequest = call.json()?;
    let chat = owned_chat(call.state.chats(), call.user()?, chat_id).await?;
    let zone = call.display_zone()?;
    if body.title.is_none() && body.end_session.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_update",
            "Send `title` and/or `end_session`.",
        ));
    }
    let change = ChatChange {
        title: body.title.as_deref().map(valid_title).transpose()?,
        ended: body.end_session,
    };
    let chat = chats::change_chat(call.state.chats(), chat, change, call.now).await?;
    Reply::ok(whole_chat_view(call, &chat, zone).await?)
}

/// A chat title as a client sends it: trimmed, 1 to `MAX_TITLE_CHARS` characters.
pub(crate) fn valid_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid_field(
            "title",
            format!("`title` must have 1 to {MAX_TITLE_CHARS} characters."),
        ));
    }
    Ok(title.to_string())
}

pub async fn delete_chat(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat = owned_chat(call.state.chats(), call.user()?, call.path_uuid("chat_id")?).await?;
    chats::delete_chat(call.state.chats(), &chat).await?;
    Reply::ok(Notice::new("Chat deleted successfully"))
}

pub async fn delete_all_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    let deleted = chats::delete_all_chats(call.state.chats(), call.user()?).await?;
    Reply::ok(DeletedChatsResponse {
        message: "All chats deleted".into(),
        deleted,
    })
}
