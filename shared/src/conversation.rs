//! The operations behind every chat route and dialect: send a message and get the
//! reply, answer a turn again. Billing, context selection, titles and failure
//! handling live here once, so every route that talks to a model behaves the same.

use std::time::Duration;
use uuid::Uuid;

use crate::billing;
use crate::error::ApiError;
use crate::llm::{context, title, Choice, GenerateRequest, ProviderError, Turn, Usage};
use crate::state::AppState;
use crate::store::{Chat, Message, Role, StoreError, User};

/// Which chat a message goes to.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The user's open chat, or a new one.
    Open,
    /// This chat; created with this id if it does not exist yet.
    Id(Uuid),
}

pub struct Sent {
    pub chat: Chat,
    /// True when this message started the chat.
    pub created: bool,
    pub user_message: Message,
    pub reply: Message,
    pub usage: Usage,
    pub tokens_remaining: i64,
}

pub struct Answered {
    pub reply: Message,
    pub usage: Usage,
    pub tokens_remaining: i64,
}

pub fn chat_not_found() -> ApiError {
    ApiError::not_found("Chat not found.")
}

/// The chat `id` if `user` owns it; 404 whether it is missing or someone else's,
/// so another user's chats cannot even be shown to exist.
pub async fn owned_chat(state: &AppState, user: &User, id: Uuid) -> Result<Chat, ApiError> {
    match state.store.chat(id).await? {
        Some(chat) if chat.user_id == user.id => Ok(chat),
        _ => Err(chat_not_found()),
    }
}

pub fn new_message(chat_id: Uuid, role: Role, content: String, at: chrono::DateTime<chrono::Utc>) -> Message {
    Message {
        id: Uuid::now_v7(),
        chat_id,
        role,
        content,
        created_at: at,
        edited_at: None,
        provider: None,
        model: None,
        reply_to: None,
        superseded: false,
    }
}

/// Stores `content` as the user's next message in the target chat and stores the
/// model's reply. On a model failure the message stays (with no reply), nothing is
/// charged, and the error names the chat and message so the client can regenerate.
pub async fn send(
    state: &AppState,
    user: &User,
    target: Target,
    content: String,
    choice: &Choice,
) -> Result<Sent, ApiError> {
    let existing = match target {
        Target::Open => state.store.open_chat(user.id).await?,
        Target::Id(id) => match state.store.chat(id).await? {
            Some(chat) if chat.user_id == user.id => Some(chat),
            Some(_) => return Err(chat_not_found()),
            None => None,
        },
    };
    let cost = state.config.tokens_per_request;
    billing::charge(state.store.as_ref(), user.id, cost).await?;
    let result = send_charged(state, user, target, existing, content, choice).await;
    if result.is_err() {
        refund_quietly(state, user.id, cost).await;
    }
    result
}

async fn send_charged(
    state: &AppState,
    user: &User,
    target: Target,
    existing: Option<Chat>,
    content: String,
    choice: &Choice,
) -> Result<Sent, ApiError> {
    let now = state.now();
    let (mut chat, created) = match existing {
        Some(chat) => (chat, false),
        None => create_chat(state, user, target, now).await?,
    };
    let user_message = new_message(chat.id, Role::User, content, now);
    state.store.add_message(&user_message).await?;

    let answered = answer(state, &chat, &user_message, choice).await;
    if chat.title.is_none() {
        chat.title = Some(match &answered {
            Ok(_) => title::generate(choice.provider.as_ref(), &choice.model, &user_message.content).await,
            Err(_) => title::first_words(&user_message.content),
        });
        state.store.update_chat(&chat).await?;
    }
    let (reply, usage) = answered.map_err(|err| {
        err.with("chat_id", chat.id.to_string())
            .with("message_id", user_message.id.to_string())
    })?;
    let tokens_remaining = state
        .store
        .user_by_id(user.id)
        .await?
        .map(|u| u.tokens)
        .unwrap_or_default();
    Ok(Sent {
        chat,
        created,
        user_message,
        reply,
        usage,
        tokens_remaining,
    })
}

async fn create_chat(
    state: &AppState,
    user: &User,
    target: Target,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Chat, bool), ApiError> {
    let id = match target {
        Target::Id(id) => id,
        Target::Open => Uuid::now_v7(),
    };
    let chat = Chat {
        id,
        user_id: user.id,
        title: None,
        created_at: now,
        end_time: None,
    };
    match state.store.create_chat(&chat).await {
        Ok(()) => Ok((chat, true)),
        // Another request created it a moment ago: use it if it is this user's.
        Err(StoreError::Conflict { .. }) => Ok((owned_chat(state, user, id).await?, false)),
        Err(err) => Err(err.into()),
    }
}

/// Answers `user_message` again with a fresh reply, keeping the earlier replies as
/// superseded versions. Charged like a send; free if the model fails.
pub async fn regenerate(
    state: &AppState,
    user: &User,
    chat: &Chat,
    user_message: &Message,
    choice: &Choice,
) -> Result<Answered, ApiError> {
    let cost = state.config.tokens_per_request;
    billing::charge(state.store.as_ref(), user.id, cost).await?;
    let result = async {
        let earlier = state.store.replies_to(chat.id, user_message.id).await?;
        let (reply, usage) = answer(state, chat, user_message, choice).await.map_err(|err| {
            err.with("chat_id", chat.id.to_string())
                .with("message_id", user_message.id.to_string())
        })?;
        for mut old in earlier.into_iter().filter(|m| !m.superseded) {
            old.superseded = true;
            state.store.update_message(&old).await?;
        }
        Ok::<_, ApiError>((reply, usage))
    }
    .await;
    match result {
        Ok((reply, usage)) => {
            let tokens_remaining = state
                .store
                .user_by_id(user.id)
                .await?
                .map(|u| u.tokens)
                .unwrap_or_default();
            Ok(Answered {
                reply,
                usage,
                tokens_remaining,
            })
        }
        Err(err) => {
            refund_quietly(state, user.id, cost).await;
            Err(err)
        }
    }
}

/// Asks the model to answer `user_message` from the chat's context before it, and
/// stores the reply.
async fn answer(
    state: &AppState,
    chat: &Chat,
    user_message: &Message,
    choice: &Choice,
) -> Result<(Message, Usage), ApiError> {
    let provider = choice.provider.as_ref();
    let cap = state.config.context_messages;
    let history: Vec<Turn> = state
        .store
        .recent_messages(chat.id, Some(user_message.id), cap)
        .await?
        .into_iter()
        .map(|m| Turn {
            role: m.role,
            content: m.content,
        })
        .collect();
    let turns = context::select(&history, provider.input_budget(&choice.model), cap, |text| {
        provider.count_tokens(text)
    });
    let request = GenerateRequest {
        model: choice.model.clone(),
        turns,
        max_new_tokens: None,
    };
    let limit = Duration::from_secs(state.config.provider_timeout_secs);
    let generation = match tokio::time::timeout(limit, provider.generate(request)).await {
        Ok(Ok(generation)) => generation,
        Ok(Err(err)) => return Err(provider_error(provider.id(), err)),
        Err(_) => {
            let err = ProviderError::Timeout(format!("The model did not answer within {} seconds.", limit.as_secs()));
            return Err(provider_error(provider.id(), err));
        }
    };
    let mut reply = new_message(chat.id, Role::Assistant, generation.text, state.now());
    reply.provider = Some(provider.id().to_string());
    reply.model = Some(choice.model.clone());
    reply.reply_to = Some(user_message.id);
    state.store.add_message(&reply).await?;
    Ok((reply, generation.usage))
}

fn provider_error(provider: &str, err: ProviderError) -> ApiError {
    tracing::warn!(provider, error = %err, "model call failed");
    err.to_api_error().with("provider", provider)
}

async fn refund_quietly(state: &AppState, user_id: Uuid, cost: i64) {
    if let Err(err) = billing::refund(state.store.as_ref(), user_id, cost).await {
        tracing::error!(%user_id, cost, error = %err, "refund after a failed request did not go through");
    }
}

/// Pairs each user message with its current reply, oldest first: the dialect A
/// `conversation`.
pub fn pair_turns(messages: &[Message]) -> Vec<(&Message, Option<&Message>)> {
    messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|question| {
            let reply = messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant && m.reply_to == Some(question.id));
            (question, reply)
        })
        .collect()
}
