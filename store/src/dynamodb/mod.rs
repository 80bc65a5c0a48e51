//! The DynamoDB store: one table, one item per record (docs/architecture.md, "DynamoDB", lists the
//! item types, keys, indexes and the requests each route costs).
//!
//! Every read that decides something is strongly consistent, and the indexes are
//! local secondary indexes, which can be read consistently too: a chat created or
//! ended a moment ago is seen by the next request, whichever container serves it.

mod api_keys;
mod chats;
mod holds;
mod idempotency_keys;
pub mod items;
pub mod keys;
mod messages;
pub mod requests;
mod shares;
pub mod table;
mod usage;
mod users;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;
use tracing::Instrument as _;
use uuid::Uuid;

use self::items::Item;
use self::keys::{TimeKey, PK};
use self::requests::{key, s, sdk_error};
use super::{
    Accounts, ApiKey, ApiKeys, AuthToken, Balances, Chat, ChatQuery, Chats, Claim, Hold, IdempotencyKeys, KeptAnswer,
    KeyedRequest, Limits, Message, Messages, Page, ReplyOutcome, Settled, ShareLink, SharedMessage, Shares, Spent,
    Store, StoreResult, Tokens, UsageBucket, UsageLog, User, UserChanges,
};

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store over an existing table.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The store the functions run with. On a local endpoint (`AWS_ENDPOINT_URL`,
    /// which the SDK reads itself) a missing table is created from
    /// `infra/table.json`; in AWS the template owns the table.
    pub async fn connect(sdk: &aws_config::SdkConfig, table: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = Self::client(sdk, timeout);
        if sdk.endpoint_url().is_some() {
            table::create_if_missing(&client, table).await?;
        }
        Ok(Self::new(client, table))
    }

    /// A client whose requests give up after `timeout` (`DYNAMODB_TIMEOUT_MS`, 5 s
    /// by default), each attempt after two fifths of it: DynamoDB answers in
    /// milliseconds, so a request still unanswered after seconds (and the SDK's own
    /// retries of throttling and transient errors) meets a store that is down, and
    /// the client is better told so (503) than kept waiting until the function's
    /// own timeout ends it with nothing said.
    pub fn client(sdk: &aws_config::SdkConfig, timeout: Duration) -> Client {
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .operation_attempt_timeout(timeout * 2 / 5)
            .operation_timeout(timeout)
            .build();
        Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .timeout_config(timeouts)
                .build(),
        )
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One strongly consistent GetItem.
    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get_item", e))?;
        Ok(answer.item)
    }

    /// A strongly consistent query of one partition of a local index, over an
    /// inclusive range of time keys.
    fn range_query(
        &self,
        pk: String,
        index: &str,
        attribute: &str,
        (low, high): (TimeKey, TimeKey),
        oldest_first: bool,
    ) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk AND #range BETWEEN :low AND :high")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#range", attribute)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":low", s(low.render()))
            .expression_attribute_values(":high", s(high.render()))
            .scan_index_forward(oldest_first)
            .consistent_read(true)
    }

    /// A strongly consistent query of the items of partition `pk` whose sort key
    /// starts with `prefix` (a user's tokens, chats or holds; a chat's messages).
    fn prefixed(&self, pk: String, prefix: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
    }

    /// The first `limit` items of a query: usually one request, more only when a
    /// page reaches DynamoDB's 1 MB before `limit`.
    async fn take(&self, query: QueryFluentBuilder, limit: usize) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        while items.len() < limit {
            let wanted = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            let answer = query
                .clone()
                .limit(wanted)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("query", e))?;
            items.extend(answer.items.unwrap_or_default());
            start = answer.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.truncate(limit);
        Ok(items)
    }
}

/// Runs one store operation inside its tracing span.
async fn traced<T>(op: &'static str, work: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    work.instrument(tracing::debug_span!("dynamodb", op)).await
}

#[async_trait]
impl Store for DynamoStore {
    fn kind(&self) -> &'static str {
        "dynamodb"
    }

    /// A GetItem of a key that never exists: reachability and permissions, nothing more.
    async fn ping(&self) -> StoreResult<()> {
        traced("ping", async { self.get("HEALTH".into(), "HEALTH").await.map(|_| ()) }).await
    }
}

#[async_trait]
impl Accounts for DynamoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        traced("create_user", self.create_user(user)).await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        traced("user_by_id", self.user_by_id(id)).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        traced("user_by_username", self.user_by_username(username)).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        traced("user_by_email", self.user_by_email(email)).await
    }

    async fn update_user(&self, id: Uuid, changes: &UserChanges) -> StoreResult<()> {
        traced("update_user", self.update_user(id, changes)).await
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<()> {
        traced("delete_user", self.delete_user(id)).await
    }

    async fn admins(&self) -> StoreResult<Vec<User>> {
        traced("admins", self.admins()).await
    }
}

#[async_trait]
impl Tokens for DynamoStore {
    async fn insert_token(&self, token: &AuthToken) -> StoreResult<()> {
        traced("insert_token", self.insert_token(token)).await
    }

    async fn user_by_token(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        traced("user_by_token", self.user_by_token(digest, now)).await
    }

    async fn delete_token(&self, digest: &str) -> StoreResult<()> {
        traced("delete_token", self.delete_token(digest)).await
    }

    async fn delete_tokens_of(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<()> {
        traced("delete_tokens_of", self.delete_tokens_of(user_id, keep)).await
    }
}

#[async_trait]
impl Balances for DynamoStore {
    async fn charge(&self, hold: &Hold) -> StoreResult<bool> {
        traced("charge", self.charge(hold)).await
    }

    async fn refund(&self, hold: &Hold) -> StoreResult<Settled> {
        traced("refund", self.refund(hold)).await
    }

    async fn settle(&self, hold: &Hold, spent: &Spent) -> StoreResult<Settled> {
        traced("settle", self.settle(hold, spent)).await
    }

    async fn stale_holds(&self, user_id: Uuid, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Hold>> {
        traced("stale_holds", self.stale_holds(user_id, now, limit)).await
    }
}

#[async_trait]
impl Shares for DynamoStore {
    async fn create_share(&self, link: &ShareLink, messages: &[SharedMessage]) -> StoreResult<bool> {
        traced("create_share", self.create_share(link, messages)).await
    }

    async fn shared(&self, share_id: &str) -> StoreResult<Option<(ShareLink, Vec<SharedMessage>)>> {
        traced("shared", self.shared(share_id)).await
    }

    async fn shares_of(&self, user_id: Uuid, page: Page) -> StoreResult<Vec<ShareLink>> {
        traced("shares_of", self.shares_of(user_id, page)).await
    }

    async fn delete_share(&self, user_id: Uuid, share_id: &str) -> StoreResult<bool> {
        traced("delete_share", self.delete_share(user_id, share_id)).await
    }
}

#[async_trait]
impl ApiKeys for DynamoStore {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        traced("create_api_key", self.create_api_key(key)).await
    }

    async fn api_keys_of(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        traced("api_keys_of", self.api_keys_of(user_id)).await
    }

    async fn delete_api_key(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        traced("delete_api_key", self.delete_api_key(user_id, id)).await
    }

    async fn delete_api_keys_of(&self, user_id: Uuid) -> StoreResult<()> {
        traced("delete_api_keys_of", self.delete_api_keys_of(user_id)).await
    }

    async fn use_api_key(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<(User, Uuid)>> {
        traced("use_api_key", self.use_api_key(digest, now)).await
    }
}

#[async_trait]
impl IdempotencyKeys for DynamoStore {
    async fn claim_key(&self, request: &KeyedRequest, now: DateTime<Utc>) -> StoreResult<Claim> {
        traced("claim_key", self.claim_key(request, now)).await
    }

    async fn finish_key(&self, request: &KeyedRequest, answer: &KeptAnswer) -> StoreResult<()> {
        traced("finish_key", self.finish_key(request, answer)).await
    }

    async fn release_key(&self, request: &KeyedRequest) -> StoreResult<()> {
        traced("release_key", self.release_key(request)).await
    }
}

#[async_trait]
impl UsageLog for DynamoStore {
    async fn usage_of(&self, user_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<UsageBucket>> {
        traced("usage_of", self.usage_of(user_id, from, to)).await
    }

    async fn usage_of_everyone(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<UsageBucket>> {
        traced("usage_of_everyone", self.usage_of_everyone(from, to)).await
    }
}

#[async_trait]
impl Limits for DynamoStore {
    async fn count_hit(&self, key: &str, expires_at: DateTime<Utc>) -> StoreResult<u64> {
        traced("count_hit", self.count_hit(key, expires_at)).await
    }
}

#[async_trait]
impl Chats for DynamoStore {
    async fn next_chat_number(&self, user_id: Uuid) -> StoreResult<i64> {
        traced("next_chat_number", self.next_chat_number(user_id)).await
    }

    async fn create_chat(&self, chat: &Chat) -> StoreResult<()> {
        traced("create_chat", self.create_chat(chat)).await
    }

    async fn import_chat(&self, chat: &Chat, messages: &[Message]) -> StoreResult<()> {
        traced("import_chat", self.import_chat(chat, messages)).await
    }

    async fn chat(&self, id: Uuid) -> StoreResult<Option<Chat>> {
        traced("chat", self.chat(id)).await
    }

    async fn chat_by_number(&self, user_id: Uuid, number: i64) -> StoreResult<Option<Chat>> {
        traced("chat_by_number", self.chat_by_number(user_id, number)).await
    }

    async fn open_chat(&self, user_id: Uuid) -> StoreResult<Option<Chat>> {
        traced("open_chat", self.open_chat(user_id)).await
    }

    async fn list_chats(&self, user_id: Uuid, query: &ChatQuery, page: Page) -> StoreResult<Vec<Chat>> {
        traced("list_chats", self.list_chats(user_id, query, page)).await
    }

    async fn update_chat(&self, chat: &Chat) -> StoreResult<()> {
        traced("update_chat", self.update_chat(chat)).await
    }

    async fn delete_chat(&self, id: Uuid) -> StoreResult<()> {
        traced("delete_chat", self.delete_chat(id)).await
    }

    async fn delete_chats_of(&self, user_id: Uuid) -> StoreResult<u64> {
        traced("delete_chats_of", self.delete_chats_of(user_id)).await
    }
}

#[async_trait]
impl Messages for DynamoStore {
    async fn add_message(&self, message: &Message) -> StoreResult<()> {
        traced("add_message", self.add_message(message)).await
    }

    async fn add_reply(
        &self,
        reply: &Message,
        question: &Message,
        earlier: &[Message],
        followers: &[Message],
        hold: &Hold,
        spent: &Spent,
    ) -> StoreResult<ReplyOutcome> {
        traced(
            "add_reply",
            self.add_reply(reply, question, earlier, followers, hold, spent),
        )
        .await
    }

    async fn message(&self, chat_id: Uuid, id: Uuid) -> StoreResult<Option<Message>> {
        traced("message", self.message(chat_id, id)).await
    }

    async fn list_messages(&self, chat_id: Uuid, page: Page) -> StoreResult<Vec<Message>> {
        traced("list_messages", self.list_messages(chat_id, page)).await
    }

    async fn recent_messages(&self, chat_id: Uuid, up_to: Option<&Message>, limit: usize) -> StoreResult<Vec<Message>> {
        traced("recent_messages", self.recent_messages(chat_id, up_to, limit)).await
    }

    async fn replies_to(&self, chat_id: Uuid, user_message: Uuid) -> StoreResult<Vec<Message>> {
        traced("replies_to", self.replies_to(chat_id, user_message)).await
    }

    async fn update_message(&self, message: &Message) -> StoreResult<()> {
        traced("update_message", self.update_message(message)).await
    }

    async fn chat_messages(&self, chat_id: Uuid) -> StoreResult<Vec<Message>> {
        traced("chat_messages", self.chat_messages(chat_id)).await
    }

    async fn switch_branch(
        &self,
        chat_id: Uuid,
        add: Option<&Message>,
        on: &[Message],
        off: &[Message],
    ) -> StoreResult<bool> {
        traced("switch_branch", self.switch_branch(chat_id, add, on, off)).await
    }
}
