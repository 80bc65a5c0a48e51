//! Dialect D (API.md §4): a prompt route per provider, answering 201 `{reply}`,
//! and the day lists, whose days are the caller's display zone's, resolved on
//! every request. Its message list is the canonical route under D's path.

use crate::conversation::chats;
use crate::conversation::reply;
use crate::error::ApiError;
use crate::http::budget::Budget;
use crate::http::call::{parse_uuid, Call};
use crate::http::reply::Reply;
use crate::store::{ChatQuery, Page};
use crate::surfaces::chats::chat::{chat_view, message_job};
use crate::surfaces::prompts::shapes::*;
use crate::time::Period;

/// The most chats a day list shows.
pub const DAY_LIST_LIMIT: usize = 10;

pub async fn prompt_gpt(call: &Call<'_>) -> Result<Reply, ApiError> {
    prompt(call, "openai").await
}

pub async fn prompt_gemini(call: &Call<'_>) -> Result<Reply, ApiError> {
    prompt(call, "gemini").await
}

async fn prompt(call: &Call<'_>, provider: &str) -> Result<Reply, ApiError> {
    let body: PromptRequest = call.json()?;
    let chat_id = body
        .chat_id
        .as_deref()
        .map(|id| parse_uuid(id, "chat_id"))
        .transpose()?;
    let job = message_job(call, chat_id, body.content, Some(provider), body.model.as_deref())?;
    let (sent, _usage) = reply::whole_in_chat(&call.state.conversations(), job).await?;
    Reply::created(PromptResponse {
        reply: sent.reply.content,
        chat_id: sent.chat.id,
        message_id: sent.question.id,
        reply_id: sent.reply.id,
        provider: sent.reply.provider,
        model: sent.reply.model,
        tokens_remaining: sent.tokens_remaining,
    })
}

pub async fn todays_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    day_list(call, Period::Today).await
}

pub async fn yesterdays_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    day_list(call, Period::Yesterday).await
}

/// The seven days before yesterday.
pub async fn seven_days_chats(call: &Call<'_>) -> Result<Reply, ApiError> {
    day_list(call, Period::EarlierWeek).await
}

/// The caller's newest chats started within `period`, with their conversations.
async fn day_list(call: &Call<'_>, period: Period) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let zone = call.display_zone()?;
    let (from, to) = period.range(call.now, zone);
    let query = ChatQuery {
        created_from: Some(from),
        created_to: Some(to),
        ..ChatQuery::default()
    };
    let chats = chats::list_chats(call.state.chats(), user, &query, Page::first(DAY_LIST_LIMIT)).await?;
    // One budget for the whole day: later chats show less of their conversations
    // (marked truncated) rather than the body outgrowing a Lambda response.
    let mut budget = Budget::body();
    let mut views = Vec::with_capacity(chats.len());
    for chat in &chats {
        views.push(chat_view(call, chat, zone, &mut budget).await?);
    }
    Reply::ok(views)
}
