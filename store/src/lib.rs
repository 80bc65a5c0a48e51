//! The storage boundary: the domain records and the one trait both backends
//! implement (SQLite on a laptop, DynamoDB in AWS). The contract suite in
//! `tests/` runs against every implementation.

pub mod dynamodb;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (username, email, chat id) already belongs to another record.
    #[error("{field} already exists")]
    Conflict { field: &'static str },
    /// The store could not be reached or did not answer in time, refused for now
    /// (throttled, busy, locked, full), or cancelled a transaction that met another:
    /// the request may succeed when tried again. The text is for the log.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

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

/// Everything the API stores, as one object; each role trait is a capability a
/// piece of the core can be handed alone. Every method is one logical operation,
/// atomic on its own.
#[async_trait]
pub trait Store:
    Accounts + Tokens + ApiKeys + Balances + UsageLog + Limits + Chats + Messages + IdempotencyKeys + Shares
{
    /// `sqlite` or `dynamodb`, as `GET /api/health/` reports it.
    fn kind(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
}

/// The accounts: users and their settings.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Fails with `Conflict` when the username or email is taken, case-insensitively.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// Case-insensitive.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Case-insensitive.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Saves the fields `changes` names and no others (the balance only `charge` and
    /// `refund` change). `Conflict { field: "email" }` when the address is another
    /// account's; `Conflict { field: "password" }` when the stored hash is no longer
    /// the change's `from` (nothing is saved then). A missing user is no error.
    async fn update_user(&self, id: Uuid, changes: &UserChanges) -> StoreResult<()>;
    /// Removes the user with all tokens, chats and messages.
    async fn delete_user(&self, id: Uuid) -> StoreResult<()>;
    /// Every account with the admin role, by username. For the operator command
    /// only (on DynamoDB it reads the whole table): no route calls it.
    async fn admins(&self) -> StoreResult<Vec<User>>;
}

/// Bearer tokens, stored as digests.
#[async_trait]
pub trait Tokens: Send + Sync {
    async fn insert_token(&self, token: &AuthToken) -> StoreResult<()>;
    /// The owner of an unexpired token.
    async fn user_by_token(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<User>>;
    async fn delete_token(&self, digest: &str) -> StoreResult<()>;
    /// Revokes every token of a user but `keep`.
    async fn delete_tokens_of(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<()>;
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

/// Personal API keys, stored as digests.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// The user's keys, oldest first.
    async fn api_keys_of(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>>;
    /// Revokes the user's key `id` at once; false when the user has no such key.
    async fn delete_api_key(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Revokes every key of the user.
    async fn delete_api_keys_of(&self, user_id: Uuid) -> StoreResult<()>;
    /// The owner of the key with this digest and the key's id, counting the use
    /// (`requests` + 1, `last_used_at` = `now`); `None` for no such key.
    async fn use_api_key(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<(User, Uuid)>>;
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

/// Share links and their snapshots.
#[async_trait]
pub trait Shares: Send + Sync {
    /// Stores the link with its snapshot (at most `MAX_SNAPSHOT_BYTES` as JSON),
    /// on the condition that the chat still exists; false (nothing stored) when
    /// it is gone or being deleted.
    async fn create_share(&self, link: &ShareLink, messages: &[SharedMessage]) -> StoreResult<bool>;
    /// The link with this public id and its snapshot, whoever asks.
    async fn shared(&self, share_id: &str) -> StoreResult<Option<(ShareLink, Vec<SharedMessage>)>>;
    /// The user's links, newest first, without their snapshots.
    async fn shares_of(&self, user_id: Uuid, page: Page) -> StoreResult<Vec<ShareLink>>;
    /// Revokes the user's link `share_id` at once; false when the user has none such.
    async fn delete_share(&self, user_id: Uuid, share_id: &str) -> StoreResult<bool>;
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

/// Token balances, changed only atomically, and the holds of replies under way.
#[async_trait]
pub trait Balances: Send + Sync {
    /// Takes `hold.cost` from the balance, if it has that much, and records the hold,
    /// as one atomic step; false when the balance is short (or the account gone):
    /// nothing is taken or recorded then.
    async fn charge(&self, hold: &Hold) -> StoreResult<bool>;
    /// Gives the hold's charge back and ends it, as one atomic step, unless it has
    /// ended already. A hold whose user is gone just ends.
    async fn refund(&self, hold: &Hold) -> StoreResult<Settled>;
    /// Ends the hold and keeps its charge, counting it as `spent` in the usage: a
    /// reply delivered but not stored (the OpenAI-compatible completions).
    async fn settle(&self, hold: &Hold, spent: &Spent) -> StoreResult<Settled>;
    /// The user's holds that are stale at `now`, oldest first, at most `limit`.
    async fn stale_holds(&self, user_id: Uuid, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Hold>>;
}

/// Usage: what kept charges bought, by hour, model and key.
#[async_trait]
pub trait UsageLog: Send + Sync {
    /// The user's buckets of the hours in `[from, to)`, by hour.
    async fn usage_of(&self, user_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<UsageBucket>>;
    /// Every user's buckets of the hours in `[from, to)`. For the administrators'
    /// view only (on DynamoDB it reads the whole table).
    async fn usage_of_everyone(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<UsageBucket>>;
}

/// Rate-limit counters shared by every container.
#[async_trait]
pub trait Limits: Send + Sync {
    /// Counts one hit on a rate-limit window and returns the hits so far; the counter
    /// may be dropped after `expires_at`.
    async fn count_hit(&self, key: &str, expires_at: DateTime<Utc>) -> StoreResult<u64>;
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

/// Idempotency keys, per user.
#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
    /// Records `request` (running, no answer) unless the user's key is held: by an
    /// unexpired record that asked something else or has an answer, or by one
    /// still running at `now`. A record past `expires_at` holds nothing, nor does
    /// one of the same request past `running_until` without an answer.
    async fn claim_key(&self, request: &KeyedRequest, now: DateTime<Utc>) -> StoreResult<Claim>;
    /// Keeps the answer of `request`'s claim, if the claim still holds the key.
    async fn finish_key(&self, request: &KeyedRequest, answer: &KeptAnswer) -> StoreResult<()>;
    /// Gives the key up (the request ended in a way a retry should redo), if
    /// `request`'s claim still holds it.
    async fn release_key(&self, request: &KeyedRequest) -> StoreResult<()>;
}

/// Chats (sessions) and their titles.
#[async_trait]
pub trait Chats: Send + Sync {
    /// The number the user's next chat gets: one more than the last one handed out,
    /// atomically, so concurrent creations never share one and a deleted chat's
    /// number is never handed out again.
    async fn next_chat_number(&self, user_id: Uuid) -> StoreResult<i64>;
    /// Fails with `Conflict { field: "chat_id" }` when the id exists (whoever owns it)
    /// and with `Conflict { field: "number" }` when the owner has a chat of that number.
    async fn create_chat(&self, chat: &Chat) -> StoreResult<()>;
    /// Creates `chat` with its `messages` (an import): all of it, or nothing — a
    /// store that cannot write it in one step removes what it wrote before failing.
    async fn import_chat(&self, chat: &Chat, messages: &[Message]) -> StoreResult<()>;
    async fn chat(&self, id: Uuid) -> StoreResult<Option<Chat>>;
    /// The user's chat of that number.
    async fn chat_by_number(&self, user_id: Uuid, number: i64) -> StoreResult<Option<Chat>>;
    /// The user's newest chat without an end time.
    async fn open_chat(&self, user_id: Uuid) -> StoreResult<Option<Chat>>;
    /// Newest first.
    async fn list_chats(&self, user_id: Uuid, query: &ChatQuery, page: Page) -> StoreResult<Vec<Chat>>;
    /// Saves title and end time.
    async fn update_chat(&self, chat: &Chat) -> StoreResult<()>;
    async fn delete_chat(&self, id: Uuid) -> StoreResult<()>;
    /// Deletes every chat of the user; how many there were.
    async fn delete_chats_of(&self, user_id: Uuid) -> StoreResult<u64>;
}

/// Messages and the versions of replies.
#[async_trait]
pub trait Messages: Send + Sync {
    async fn add_message(&self, message: &Message) -> StoreResult<()>;
    async fn message(&self, chat_id: Uuid, id: Uuid) -> StoreResult<Option<Message>>;
    /// The chat's current messages (no superseded replies), oldest first.
    async fn list_messages(&self, chat_id: Uuid, page: Page) -> StoreResult<Vec<Message>>;
    /// The chat's `limit` newest current messages, newest first; with `up_to`, only
    /// that message and those before it (the context of an earlier turn). The
    /// caller holds `up_to` already, so its place in the order needs no read.
    async fn recent_messages(&self, chat_id: Uuid, up_to: Option<&Message>, limit: usize) -> StoreResult<Vec<Message>>;
    /// Every version of the reply to `user_message`, oldest first.
    async fn replies_to(&self, chat_id: Uuid, user_message: Uuid) -> StoreResult<Vec<Message>>;
    /// Saves content, edit time and the superseded flag.
    async fn update_message(&self, message: &Message) -> StoreResult<()>;
    /// Every message of the chat, superseded ones too (its whole tree), oldest first.
    async fn chat_messages(&self, chat_id: Uuid) -> StoreResult<Vec<Message>>;
    /// Makes another branch of the chat the active one, as one atomic step: adds
    /// `add` (a new message starting the branch) if given, puts the messages `on`
    /// on the active branch and takes the messages `off` off it. False, and nothing
    /// written, when the chat or one of the messages is gone (deleted meanwhile).
    async fn switch_branch(
        &self,
        chat_id: Uuid,
        add: Option<&Message>,
        on: &[Message],
        off: &[Message],
    ) -> StoreResult<bool>;
    /// Stores `reply` as the current answer to `question`, supersedes `earlier` (its
    /// replies current when `question` was read), makes `followers` (the messages
    /// that followed those replies on the active branch) follow `reply` instead,
    /// ends `hold` (the reply's charge)
    /// and counts it as `spent` in the usage, as one atomic step taken only while
    /// `question.reply_version` is still the stored one, which it advances, and
    /// while the hold is open.
    async fn add_reply(
        &self,
        reply: &Message,
        question: &Message,
        earlier: &[Message],
        followers: &[Message],
        hold: &Hold,
        spent: &Spent,
    ) -> StoreResult<ReplyOutcome>;
}
