//! The records the store keeps: accounts and their tokens and keys, chats and
//! their messages, holds and usage, share links, kept answers. Plain data; the
//! role traits (`roles`) say what can be done with them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub date_joined: DateTime<Utc>,
    pub is_active: bool,
    /// The admin role: granted and revoked only by the operator command
    /// (`chatbot-admin`), never by a request or a setting; registration stores false.
    pub is_admin: bool,
    /// The user's display zone (IANA name); `None` uses the configured default.
    pub time_zone: Option<String>,
    /// The balance left.
    pub tokens: i64,
    /// Tokens spent so far and the number of charged requests (`GET /api/tokens/`).
    pub spent: i64,
    pub requests: i64,
}

/// The fields of an account one update changes. `None` leaves a field as stored, so
/// updates of different fields never undo each other (a time-zone change racing a
/// password change or a deactivation writes neither back).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserChanges {
    /// `Some(None)` clears the email.
    pub email: Option<Option<String>>,
    /// `Some(None)` goes back to the configured zone.
    pub time_zone: Option<Option<String>>,
    pub password: Option<PasswordChange>,
    pub is_active: Option<bool>,
    /// Grants (`true`) or revokes the admin role.
    pub is_admin: Option<bool>,
}

/// A new password hash, written only while the stored one is still `from` (the one
/// the old password was checked against): of two concurrent changes, one wins.
#[derive(Clone, Debug, PartialEq)]
pub struct PasswordChange {
    pub from: String,
    pub to: String,
}

impl UserChanges {
    /// `user` as it is once these changes are saved.
    pub fn apply_to(&self, user: &mut User) {
        if let Some(email) = &self.email {
            user.email = email.clone();
        }
        if let Some(zone) = &self.time_zone {
            user.time_zone = zone.clone();
        }
        if let Some(password) = &self.password {
            user.password_hash = password.to.clone();
        }
        if let Some(active) = self.is_active {
            user.is_active = active;
        }
        if let Some(admin) = self.is_admin {
            user.is_admin = admin;
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AuthToken {
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub digest: String,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chat {
    pub id: Uuid,
    pub user_id: Uuid,
    /// 1, 2, 3… within the owner's account, in order of creation and never reused:
    /// the id of dialects whose clients use integers (B and E).
    pub number: i64,
    pub title: Option<String>,
    /// Also the chat's `start_time`.
    pub created_at: DateTime<Utc>,
    /// Set when the session is ended; an open chat has none.
    pub end_time: Option<DateTime<Utc>>,
}

pub use chatbot_llm::Role;

/// One stored message: a user's turn, or one version of the assistant's reply to it.
/// A chat's messages form a tree (`parent_id`); the messages of its active branch
/// are the ones not `superseded`.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: Uuid,
    pub chat_id: Uuid,
    pub role: Role,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// For a reply: the user message it answers.
    pub reply_to: Option<Uuid>,
    /// Off the chat's active branch: a reply replaced by a regenerated one (kept
    /// and listed as an earlier version), or a message of a branch not shown now.
    pub superseded: bool,
    /// A streamed reply the client left before it was complete: kept as far as it got.
    pub partial: bool,
    /// For a user message: how many replies to it were stored, the version that
    /// `add_reply` checks and advances, so of two concurrent regenerations one wins.
    pub reply_version: i64,
    /// The message this one follows in the chat's tree; `ROOT_PARENT` for a first
    /// message (the chat's, or a branch's beside it); none for messages stored
    /// before the tree existed, whose parents are derived from the order they
    /// were written in (`conversation::tree`).
    pub parent_id: Option<Uuid>,
}

/// The `parent_id` of a message that follows none: the nil UUID, which no message has.
pub const ROOT_PARENT: Uuid = Uuid::nil();

/// What `add_reply` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    Stored,
    /// Another reply to the question was stored since it was read: nothing written.
    Raced,
    /// The question or its chat is gone (deleted meanwhile): nothing written.
    QuestionGone,
    /// The reply's hold has ended already (refunded as stale): nothing written.
    Unpaid,
}

/// Filters of `GET /api/chats/`.
#[derive(Clone, Debug, Default)]
pub struct ChatQuery {
    pub session_id: Option<Uuid>,
    /// Case-insensitive substring of the title or of any message.
    pub search: Option<String>,
    /// `[from, to)` on the chat's creation time.
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

/// A page of a list: at most `limit` records after the record `after` (exclusive)
/// in the list's own order.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub limit: usize,
    pub after: Option<Uuid>,
}

impl Page {
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

/// A personal API key (API.md §7): authenticates `/v1/*` only, for its owner.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// SHA-256 of the key, hex; the key itself is shown once and never stored.
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests it authenticated.
    pub requests: i64,
}

/// A share link (API.md §7): a read-only snapshot of a chat's messages, read by
/// anyone who has its `share_id`, listed and revoked by its owner, and gone with
/// the chat or the account.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareLink {
    /// The public, unguessable id in the link: 256 random bits, base64url.
    pub share_id: String,
    /// Orders the owner's links (UUID v7) and names one in a list's cursor.
    pub id: Uuid,
    pub user_id: Uuid,
    pub chat_id: Uuid,
    /// The chat's title when it was shared.
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One message of a share's snapshot.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SharedMessage {
    pub role: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// The most bytes a share's snapshot (its messages as JSON) may take: a share is
/// one DynamoDB item, and an item holds at most 400 KB with its other attributes.
pub const MAX_SNAPSHOT_BYTES: usize = 350_000;

/// The stored form of a snapshot: its messages as one JSON text (what
/// `MAX_SNAPSHOT_BYTES` bounds).
pub fn snapshot_json(messages: &[SharedMessage]) -> String {
    serde_json::to_string(messages).unwrap_or_else(|_| "[]".into())
}

/// A snapshot read back from its stored form.
pub fn snapshot_from_json(json: &str) -> StoreResult<Vec<SharedMessage>> {
    serde_json::from_str(json).map_err(|e| StoreError::Internal(anyhow::anyhow!("a share's snapshot: {e}")))
}

/// One reply's charge while the reply is under way (API.md §6, ARCHITECTURE.md "The
/// money invariant"). Taken with the charge in one atomic step, it is ended exactly
/// once: by the write that stores the reply (`add_reply`), by a refund, or, for a
/// reply nothing stores, by `settle`. A hold that a crash, a timeout or an
/// unreachable store left behind is refunded once it is `stale_at`, when the request
/// that took it has surely ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Hold {
    pub id: Uuid,
    pub user_id: Uuid,
    pub cost: i64,
    pub created_at: DateTime<Utc>,
    pub stale_at: DateTime<Utc>,
}

/// What a kept charge bought. The step that ends the charge's hold keeping it
/// (`add_reply`, `settle`) adds it to the payer's usage in the same atomic step, so
/// usage adds up to the balance's `spent` (API.md §7).
#[derive(Clone, Debug, PartialEq)]
pub struct Spent {
    /// When the reply ended; counted in its UTC hour.
    pub at: DateTime<Utc>,
    pub provider: String,
    pub model: String,
    /// The personal API key that asked, if one did.
    pub key_id: Option<Uuid>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// One user's usage of one model (through one key, or none) in one UTC hour.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageBucket {
    pub user_id: Uuid,
    /// The hour's start, UTC.
    pub hour: DateTime<Utc>,
    pub provider: String,
    pub model: String,
    pub key_id: Option<Uuid>,
    pub requests: i64,
    /// The balance it took (the holds' costs).
    pub tokens_charged: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// The start of the UTC hour `at` falls in: the bucket a charge is counted in.
pub fn usage_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    let ms = at.timestamp_millis();
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(3_600_000)).unwrap_or(at)
}

/// How a hold ended, when one thing tried to end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// This call ended it.
    Now,
    /// It had ended already (refunded by a sweep, or settled): nothing changed.
    Before,
}

/// A request sent with an `Idempotency-Key` (API.md §6): claimed before it runs,
/// its answer kept while the key lives, so that a retry gets the first answer.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyedRequest {
    pub user_id: Uuid,
    /// SHA-256 (hex) of the route and the key: the key itself is never stored.
    pub key_digest: String,
    /// SHA-256 (hex) of what was asked (method, path, query and body): a retry
    /// must ask the same.
    pub request_digest: String,
    /// This claim's own id: only the request that took it finishes or releases it.
    pub claim: Uuid,
    pub created_at: DateTime<Utc>,
    /// Until then an unfinished claim is a request still running; past it, one
    /// whose process ended without answering, and a retry may run in its place.
    pub running_until: DateTime<Utc>,
    /// When the key ends and may ask something else.
    pub expires_at: DateTime<Utc>,
    /// The first answer, once there is one.
    pub answer: Option<KeptAnswer>,
}

/// An answer kept for replay: status, media type and body (always text: JSON,
/// server-sent events or plain text).
#[derive(Clone, Debug, PartialEq)]
pub struct KeptAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// What `claim_key` found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The key is this request's now.
    Taken,
    /// The key is held by this record (running, or answered).
    Held(KeyedRequest),
}
