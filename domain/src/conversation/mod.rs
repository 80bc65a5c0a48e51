//! Chats as the domain sees them: who owns a chat, how a message is made, how a
//! chat's turns pair up, and the one reply pipeline (`reply`) every route that
//! asks a model goes through. Everything here answers in domain errors
//! (`ChatError`); `crate::error` turns them into HTTP once, at the edge.

pub mod chats;
pub mod reply;
pub mod shares;
pub mod transfer;
pub mod tree;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

use crate::billing::BillingError;
use crate::llm::ProviderError;
use crate::store::{Accounts, Balances, Chats, Message, Messages, Role, StoreError, User};

pub use chats::{numbered_chat, owned_chat, start_chat};

/// The time now: the wall clock, or a test's.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What the conversation operations (the reply pipeline above all) work with: the
/// store's roles they use, the clock and the settings of a reply, and never the
/// function's whole state or its HTTP request (ARCHITECTURE.md: operations over
/// narrow capabilities). A function's state lends it (`AppState::conversations`);
/// a test can build one from any implementation of the four roles.
#[derive(Clone)]
pub struct Conversations {
    pub accounts: Arc<dyn Accounts>,
    pub chats: Arc<dyn Chats>,
    pub messages: Arc<dyn Messages>,
    pub balances: Arc<dyn Balances>,
    pub clock: Clock,
    pub settings: ReplySettings,
}

impl Conversations {
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

/// The deployment's settings a reply follows (API.md §5, §6).
#[derive(Clone, Copy, Debug)]
pub struct ReplySettings {
    /// `TOKENS_PER_REQUEST`: the charge of one reply.
    pub tokens_per_request: i64,
    /// `PENDING_CHARGE_SECS`: when a hold no write ended is refunded.
    pub pending_charge_secs: i64,
    /// `CONTEXT_MESSAGES`: the most stored messages a model sees.
    pub context_messages: usize,
    /// `MAX_REPLY_TOKENS`: the most tokens a reply may have.
    pub max_reply_tokens: u32,
    /// `PROVIDER_TIMEOUT_SECS`: how long the model work of a request may take.
    pub provider_timeout_secs: u64,
}

/// Which chat a message goes to. One rule for every surface (docs/dialects.md,
/// "Which chat a message goes to"): only an id the client names itself creates a
/// chat; a chat the server found for the request is never made again.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The user's open chat, or a new one.
    Open,
    /// This chat, named by the client (the canonical routes' and dialect D's
    /// `chat_id`); created with this id if it does not exist (API.md §2).
    Id(Uuid),
    /// This chat, which must still exist (one the server found, e.g. by its number
    /// for dialects B and E): `NotFound` if it was deleted meanwhile, never a new chat.
    Existing(Uuid),
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
    /// Another reply to the same message was stored while this one was being
    /// written (two regenerations at once): this one was not kept, nor charged.
    #[error("another reply to the message was stored meanwhile")]
    ReplyRaced,
    /// The chat's active branch was switched by another request since it was read:
    /// nothing was changed or charged.
    #[error("the chat's active branch changed meanwhile")]
    BranchMoved,
    /// The store failed while the reply was written and cannot say yet whether the
    /// write landed: the reply `reply_id` to the kept question is either stored and
    /// paid for, or not stored and refunded (at once or once its hold is stale).
    #[error("the store could not confirm the reply {reply_id}")]
    ReplyUnsure { kept: Kept, reply_id: uuid::Uuid },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn new_message(chat_id: Uuid, role: Role, content: String, at: DateTime<Utc>) -> Message {
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
        reply_version: 0,
        parent_id: None,
    }
}

/// The user's balance as stored now.
pub async fn balance(accounts: &dyn Accounts, user: &User) -> Result<i64, StoreError> {
    Ok(accounts
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
