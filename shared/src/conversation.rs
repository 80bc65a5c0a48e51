//! The operations behind every chat route and dialect: send a message and get the
//! reply, answer a turn again. Billing, context selection, titles and failure
//! handling live here once, so every route that talks to a model behaves the same.

use std::time::Duration;
use uuid::Uuid;

use crate::billing;
use crate::error::ApiError;
use crate::llm::{context, title, Choice, ChunkStream, GenerateRequest, ProviderError, Turn, Usage};
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
        partial: false,
    }
}

/// A send whose charge is taken and whose user message is stored: the part every
/// way of answering (whole or streamed) shares.
pub struct Begun {
    pub chat: Chat,
    /// True when this message started the chat.
    pub created: bool,
    pub user_message: Message,
}

/// Charges the user and stores `content` as their next message in the target chat,
/// creating the chat if needed. Nothing is charged or stored when this fails.
pub async fn begin(state: &AppState, user: &User, target: Target, content: String) -> Result<Begun, ApiError> {
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
    let result = async {
        let now = state.now();
        let (chat, created) = match existing {
            Some(chat) => (chat, false),
            None => create_chat(state, user, target, now).await?,
        };
        let user_message = new_message(chat.id, Role::User, content, now);
        state.store.add_message(&user_message).await?;
        Ok(Begun {
            chat,
            created,
            user_message,
        })
    }
    .await;
    if result.is_err() {
        refund_quietly(state, user.id, cost).await;
    }
    result
}

/// Undoes the charge of a begun send whose model failed, and titles a new chat
/// from its first words. The error names the kept message for a later regenerate.
pub async fn fail(state: &AppState, user: &User, begun: &mut Begun, err: ApiError) -> ApiError {
    refund_quietly(state, user.id, state.config.tokens_per_request).await;
    if begun.chat.title.is_none() {
        begun.chat.title = Some(title::first_words(&begun.user_message.content));
        if let Err(store_err) = state.store.update_chat(&begun.chat).await {
            return store_err.into();
        }
    }
    err.with("chat_id", begun.chat.id.to_string())
        .with("message_id", begun.user_message.id.to_string())
}

/// Titles a new chat after its first reply.
pub async fn title_new_chat(
    state: &AppState,
    chat: &mut Chat,
    choice: &Choice,
    first_message: &str,
) -> Result<(), ApiError> {
    if chat.title.is_none() {
        chat.title = Some(title::generate(choice.provider.as_ref(), &choice.model, first_message).await);
        state.store.update_chat(chat).await?;
    }
    Ok(())
}

pub async fn balance(state: &AppState, user: &User) -> Result<i64, ApiError> {
    Ok(state
        .store
        .user_by_id(user.id)
        .await?
        .map(|u| u.tokens)
        .unwrap_or_default())
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
    let mut begun = begin(state, user, target, content).await?;
    let (reply, usage) = match answer(state, &begun.chat, &begun.user_message, choice).await {
        Ok(answered) => answered,
        Err(err) => return Err(fail(state, user, &mut begun, err).await),
    };
    let Begun {
        mut chat,
        created,
        user_message,
    } = begun;
    title_new_chat(state, &mut chat, choice, &user_message.content).await?;
    let tokens_remaining = balance(state, user).await?;
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
        Ok((reply, usage)) => Ok(Answered {
            reply,
            usage,
            tokens_remaining: balance(state, user).await?,
        }),
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
    let request = context_request(state, chat, user_message, choice).await?;
    let limit = Duration::from_secs(state.config.provider_timeout_secs);
    let generation = match tokio::time::timeout(limit, provider.generate(request)).await {
        Ok(Ok(generation)) => generation,
        Ok(Err(err)) => return Err(provider_error(provider.id(), err)),
        Err(_) => return Err(provider_error(provider.id(), timed_out(limit))),
    };
    let reply = store_reply(state, chat, user_message, choice, generation.text, false).await?;
    Ok((reply, generation.usage))
}

fn timed_out(limit: Duration) -> ProviderError {
    ProviderError::Timeout(format!("The model did not answer within {} seconds.", limit.as_secs()))
}

/// The request for the model: the chat's context up to `user_message`.
async fn context_request(
    state: &AppState,
    chat: &Chat,
    user_message: &Message,
    choice: &Choice,
) -> Result<GenerateRequest, ApiError> {
    let provider = choice.provider.as_ref();
    let cap = state.config.context_messages;
    let history: Vec<Turn> = state
        .store
        .recent_messages(chat.id, Some(user_message), cap)
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
    Ok(GenerateRequest {
        model: choice.model.clone(),
        turns,
        max_new_tokens: None,
    })
}

/// Stores the model's reply to `user_message`.
/// `partial` marks a streamed reply the client left before it was complete.
pub async fn store_reply(
    state: &AppState,
    chat: &Chat,
    user_message: &Message,
    choice: &Choice,
    text: String,
    partial: bool,
) -> Result<Message, ApiError> {
    let mut reply = new_message(chat.id, Role::Assistant, text, state.now());
    reply.partial = partial;
    reply.provider = Some(choice.provider.id().to_string());
    reply.model = Some(choice.model.clone());
    reply.reply_to = Some(user_message.id);
    state.store.add_message(&reply).await?;
    Ok(reply)
}

/// Opens the model's streamed answer to `user_message`.
pub async fn open_stream(
    state: &AppState,
    chat: &Chat,
    user_message: &Message,
    choice: &Choice,
) -> Result<ChunkStream, ApiError> {
    let provider = choice.provider.as_ref();
    let request = context_request(state, chat, user_message, choice).await?;
    let limit = Duration::from_secs(state.config.provider_timeout_secs);
    match tokio::time::timeout(limit, provider.stream(request)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(provider_error(provider.id(), err)),
        Err(_) => Err(provider_error(provider.id(), timed_out(limit))),
    }
}

pub fn provider_error(provider: &str, err: ProviderError) -> ApiError {
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
