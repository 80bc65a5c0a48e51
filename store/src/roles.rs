//! The role traits: each is one capability a piece of the core can be handed
//! alone (an operation takes only the roles it uses); `Store` is all of them.
//! Every method is one logical operation, atomic on its own.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::records::*;
use crate::StoreResult;

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
