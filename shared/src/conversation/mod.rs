//! Chats as the domain sees them: who owns a chat, how a message is made, how a
//! chat's turns pair up, and the one reply pipeline (`reply`) every route that
//! asks a model goes through. Everything here answers in domain errors
//! (`ChatError`); `crate::error` turns them into HTTP once, at the edge.

pub mod reply;

use uuid::Uuid;

use crate::billing::BillingError;
use crate::llm::ProviderError;
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

/// The user's message a failed reply leaves behind, so the client can ask again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    pub chat_id: Uuid,
    pub message_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Missing, or someone else's: the two are never told apart.
    #[error("chat not found")]
    NotFound,
    #[error(transparent)]
    Billing(#[from] BillingError),
    /// The model failed; nothing was charged. `kept` names the stored question.
    #[error("{provider}: {error}")]
    Model {
        provider: String,
        error: ProviderError,
        kept: Option<Kept>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The chat `id` if `user` owns it; `NotFound` whether it is missing or someone
/// else's, so another user's chats cannot even be shown to exist.
pub async fn owned_chat(state: &AppState, user: &User, id: Uuid) -> Result<Chat, ChatError> {
    match state.store.chat(id).await? {
        Some(chat) if chat.user_id == user.id => Ok(chat),
        _ => Err(ChatError::NotFound),
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

/// The user's balance as stored now.
pub async fn balance(state: &AppState, user: &User) -> Result<i64, StoreError> {
    Ok(state
        .store
        .user_by_id(user.id)
        .await?
        .map(|u| u.tokens)
        .unwrap_or_default())
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
