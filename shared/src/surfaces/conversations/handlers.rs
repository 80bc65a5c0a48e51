//! Dialect B (API.md §4): Gemini-style conversations whose ids are chat numbers,
//! every answer 200. `POST /api/chat/` also serves dialect C, which sends no
//! conversation id. Views over the canonical operations only.

use serde_json::Value;

use crate::conversation::chats::{self, ChatChange};
use crate::conversation::reply::{self, Ask, Job};
use crate::conversation::{numbered_chat, start_chat, Target};
use crate::error::ApiError;
use crate::http::body::{message_content, required};
use crate::http::budget::Budget;
use crate::http::call::{parse_number, Call};
use crate::http::pagination::next_link;
use crate::http::reply::Reply;
use crate::store::{Chat, ChatQuery, Role};
use crate::surfaces::chats::chat::{page_of_chats, search_term, valid_title, CONVERSATION_LIMIT};
use crate::surfaces::chats::messages::{answer_again, last_question, Again};
use crate::surfaces::conversations::shapes::*;
use crate::surfaces::shapes::Notice;
use crate::time::iso;

/// What B's original showed for a conversation the first message has not named.
const UNTITLED: &str = "New Chat";

fn title_of(chat: &Chat) -> String {
    chat.title.clone().unwrap_or_else(|| UNTITLED.to_string())
}

/// A chat number from a body field: B's clients send it as a number or a string.
fn body_number(value: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    let invalid = || ApiError::invalid_field(field, format!("`{field}` must be a chat number (1, 2, 3…)."));
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().filter(|n| *n > 0).map(Some).ok_or_else(invalid),
        Value::String(raw) => parse_number(raw, field).map(Some),
        _ => Err(invalid()),
    }
}

pub async fn create_conversation(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: CreateConversationRequest = call.json()?;
    // B's original named every conversation `New Chat` and renamed it at its first
    // message: that placeholder leaves the naming to the first message here too.
    let title = body
        .title
        .filter(|t| t.trim() != UNTITLED)
        .map(|t| valid_title(&t))
        .transpose()?;
    let chat = start_chat(call.state.chats(), call.user()?, title, call.state.now()).await?;
    Reply::ok(CreatedConversation {
        conversation_id: chat.number,
        title: title_of(&chat),
        created_at: iso(chat.created_at),
    })
}

pub async fn list_conversations(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let query = ChatQuery {
        search: search_term(call)?,
        ..ChatQuery::default()
    };
    let (chats, paging) = page_of_chats(call, user, &query).await?;
    // Summaries are a title and a date each: a page of them is far within budget.
    let next = paging.next_cursor(chats.len());
    let conversations: Vec<_> = chats
        .iter()
        .map(|c| ConversationSummary {
            id: c.number,
            title: title_of(c),
            created_at: iso(c.created_at),
        })
        .collect();
    let reply = Reply::ok(ConversationList {
        user: user.username.clone(),
        total: conversations.len(),
        conversations,
        next_cursor: next.clone(),
    })?;
    Ok(match next {
        Some(cursor) => reply.with_header("link", next_link(call, &cursor)),
        None => reply,
    })
}

/// `POST /api/chat/`: B's `{conversation_id, message}` or C's `{message}` (the open
/// chat, or a new one); 200 either way, as both originals answered.
pub async fn chat(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: DialectChatRequest = call.json()?;
    let number = match &body.conversation_id {
        Some(value) => body_number(value, "conversation_id")?,
        None => None,
    };
    let content = message_content(&required(body.message, "message")?, "message")?;
    let choice = call
        .state
        .llm()
        .choose(body.provider.as_deref(), body.model.as_deref())?;
    let user = call.user()?;
    let target = match number {
        Some(number) => Target::Existing(numbered_chat(call.state.chats(), user, number).await?.id),
        None => Target::Open,
    };
    let job = Job {
        user: user.clone(),
        ask: Ask::Message { target, content },
        choice,
        max_new_tokens: None,
        key_id: call.api_key(),
    };
    let (sent, _usage) = reply::whole_in_chat(&call.state.conversations(), job).await?;
    let history_length = chats::first_messages(call.state.messages(), &sent.chat, CONVERSATION_LIMIT)
        .await?
        .len();
    Reply::ok(DialectChatResponse {
        conversation_id: sent.chat.number,
        title: title_of(&sent.chat),
        user_message: sent.question.content.clone(),
        ai_response: sent.reply.content.clone(),
        timestamp: iso(sent.reply.created_at),
        history_length,
        message: sent.question.content,
        response: sent.reply.content,
        tokens_remaining: sent.tokens_remaining,
    })
}

pub async fn conversation_messages(call: &Call<'_>) -> Result<Reply, ApiError> {
    let number = call.path_number("conversation_id")?;
    let chat = numbered_chat(call.state.chats(), call.user()?, number).await?;
    // The newest messages of a long chat that fit one response, shown oldest first.
    let newest = chats::newest_messages(call.state.messages(), &chat, CONVERSATION_LIMIT).await?;
    let views = newest.into_iter().map(|m| ConversationMessage {
        role: match m.role {
            Role::User => "user",
            Role::Assistant => "model",
        }
        .to_string(),
        content: m.content,
        timestamp: iso(m.created_at),
    });
    let (mut messages, _) = Budget::body().take_leading(views);
    messages.reverse();
    Reply::ok(ConversationMessages {
        conversation_id: chat.number,
        title: title_of(&chat),
        total_messages: messages.len(),
        messages,
    })
}

pub async fn rename_conversation(call: &Call<'_>) -> Result<Reply, ApiError> {
    let number = call.path_number("conversation_id")?;
    let body: RenameConversationRequest = call.json()?;
    let title = valid_title(&required(body.title, "title")?)?;
    let chat = numbered_chat(call.state.chats(), call.user()?, number).await?;
    let change = ChatChange {
        title: Some(title.clone()),
        ended: None,
    };
    let chat = chats::change_chat(call.state.chats(), chat, change, call.now).await?;
    Reply::ok(RenamedConversation {
        message: "Title updated".into(),
        conversation_id: chat.number,
        new_title: title,
    })
}

pub async fn delete_conversation(call: &Call<'_>) -> Result<Reply, ApiError> {
    let number = call.path_number("conversation_id")?;
    let chat = numbered_chat(call.state.chats(), call.user()?, number).await?;
    chats::delete_chat(call.state.chats(), &chat).await?;
    Reply::ok(Notice::new("Conversation deleted successfully"))
}

/// `POST /api/chat/regenerate/`: the last user message answered again; the earlier
/// reply is kept as a superseded version (B's original deleted it first).
pub async fn regenerate(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: RegenerateConversationRequest = call.json()?;
    let number = required(
        body.conversation_id
            .as_ref()
            .map(|v| body_number(v, "conversation_id"))
            .transpose()?
            .flatten(),
        "conversation_id",
    )?;
    let choice = call
        .state
        .llm()
        .choose(body.provider.as_deref(), body.model.as_deref())?;
    let user = call.user()?;
    let chat = numbered_chat(call.state.chats(), user, number).await?;
    let number = chat.number;
    let again = Again {
        question: last_question(call, &chat).await?,
        edit: None,
        choice,
    };
    let zone = call.display_zone()?;
    let (again, _) = answer_again(call, user, chat, again, zone).await?;
    Reply::ok(RegeneratedConversation {
        conversation_id: number,
        new_ai_response: again.reply.content,
        tokens_remaining: again.tokens_remaining,
    })
}
