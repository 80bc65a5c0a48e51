//! The items the table holds, as serde_dynamo structs, and their conversions to and
//! from the store's records. Times are integer milliseconds, as in SQLite; `kind`
//! names the item type for anyone reading the table.

use std::collections::HashMap;

use anyhow::Context as _;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{self, TimeKey};
use crate::{
    ApiKey, AuthToken, Chat, Hold, KeptAnswer, KeyedRequest, Message, Role, ShareLink, StoreError, StoreResult, User,
};

pub type Item = HashMap<String, AttributeValue>;

pub fn to_item<T: Serialize>(value: &T) -> StoreResult<Item> {
    serde_dynamo::to_item(value)
        .context("encoding a DynamoDB item")
        .map_err(StoreError::Internal)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item)
        .context("decoding a DynamoDB item")
        .map_err(StoreError::Internal)
}

pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The TTL attribute's value: whole seconds, rounded up so DynamoDB never drops an
/// item before the instant the store itself treats as its end.
pub fn ttl_seconds(t: DateTime<Utc>) -> i64 {
    millis(t).div_euclid(1000) + i64::from(millis(t).rem_euclid(1000) != 0)
}

/// `USER#<id>` / `PROFILE`.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub id: Uuid,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The lower-cased email, whose `EMAIL#` claim item this user holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_key: Option<String>,
    pub password_hash: String,
    pub date_joined: i64,
    pub is_active: bool,
    /// Absent on items written before the role existed: those are not admins.
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub tokens: i64,
    pub spent: i64,
    pub requests: i64,
}

impl UserItem {
    pub fn new(user: &User) -> Self {
        Self {
            pk: keys::user_pk(user.id),
            sk: keys::PROFILE.into(),
            kind: "user".into(),
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            email_key: user.email.as_deref().map(keys::name_key),
            password_hash: user.password_hash.clone(),
            date_joined: millis(user.date_joined),
            is_active: user.is_active,
            is_admin: user.is_admin,
            time_zone: user.time_zone.clone(),
            tokens: user.tokens,
            spent: user.spent,
            requests: user.requests,
        }
    }

    pub fn into_user(self) -> User {
        User {
            id: self.id,
            username: self.username,
            email: self.email,
            password_hash: self.password_hash,
            date_joined: from_millis(self.date_joined),
            is_active: self.is_active,
            is_admin: self.is_admin,
            time_zone: self.time_zone,
            tokens: self.tokens,
            spent: self.spent,
            requests: self.requests,
        }
    }
}

/// `USERNAME#<lower>` or `EMAIL#<lower>`: the claim that makes a value unique.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub user_id: Uuid,
}

/// `CHATNO#<number>` under the owner: which chat has that number.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChatNumberItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub chat_id: Uuid,
}

impl ChatNumberItem {
    pub fn new(chat: &Chat) -> Self {
        Self {
            pk: keys::user_pk(chat.user_id),
            sk: keys::chat_number_sk(chat.number),
            kind: "chat_number".into(),
            chat_id: chat.id,
        }
    }
}

impl ClaimItem {
    pub fn username(name: &str, user_id: Uuid) -> Self {
        Self {
            pk: keys::username_pk(name),
            sk: keys::USERNAME.into(),
            kind: "username".into(),
            user_id,
        }
    }

    pub fn email(email: &str, user_id: Uuid) -> Self {
        Self {
            pk: keys::email_pk(email),
            sk: keys::EMAIL.into(),
            kind: "email".into(),
            user_id,
        }
    }
}

/// `TOKEN#<digest>` / `TOKEN` (found by digest) and its twin `USER#<id>` /
/// `TOKEN#<digest>` (found by owner); both expire by TTL.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub digest: String,
    pub user_id: Uuid,
    pub created_at: i64,
    /// The exact expiry in milliseconds; `expires_at` is its TTL copy in seconds.
    pub expires_ms: i64,
    pub expires_at: i64,
}

impl TokenItem {
    pub fn lookup(token: &AuthToken) -> Self {
        Self::build(token, keys::token_pk(&token.digest), keys::TOKEN.into(), "token")
    }

    pub fn entry(token: &AuthToken) -> Self {
        Self::build(
            token,
            keys::user_pk(token.user_id),
            keys::token_entry_sk(&token.digest),
            "token_entry",
        )
    }

    fn build(token: &AuthToken, pk: String, sk: String, kind: &str) -> Self {
        Self {
            pk,
            sk,
            kind: kind.into(),
            digest: token.digest.clone(),
            user_id: token.user_id,
            created_at: millis(token.created_at),
            expires_ms: millis(token.expires_at),
            expires_at: ttl_seconds(token.expires_at),
        }
    }
}

/// A personal API key: `APIKEY#<digest>` / `APIKEY` (found by digest, what
/// authentication reads) and its entry `USER#<id>` / `APIKEY#<key id>` (listed
/// and revoked by owner; it carries the counters).
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiKeyItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub digest: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    #[serde(default)]
    pub requests: i64,
}

impl ApiKeyItem {
    pub fn lookup(key: &ApiKey) -> Self {
        Self::build(key, keys::api_key_pk(&key.digest), keys::API_KEY.into(), "api_key")
    }

    pub fn entry(key: &ApiKey) -> Self {
        Self::build(
            key,
            keys::user_pk(key.user_id),
            keys::api_key_entry_sk(key.id),
            "api_key_entry",
        )
    }

    fn build(key: &ApiKey, pk: String, sk: String, kind: &str) -> Self {
        Self {
            pk,
            sk,
            kind: kind.into(),
            id: key.id,
            user_id: key.user_id,
            name: key.name.clone(),
            digest: key.digest.clone(),
            created_at: millis(key.created_at),
            last_used_at: key.last_used_at.map(millis),
            requests: key.requests,
        }
    }

    pub fn into_api_key(self) -> ApiKey {
        ApiKey {
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            digest: self.digest,
            created_at: from_millis(self.created_at),
            last_used_at: self.last_used_at.map(from_millis),
            requests: self.requests,
        }
    }
}

/// A share link's three items (`keys::SHARE`): the snapshot `SHARED#<share_id>` /
/// `SHARE` (with `snapshot`, the messages as JSON), the owner's entry and the
/// chat's mark (without it).
#[derive(Debug, Serialize, Deserialize)]
pub struct ShareItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub share_id: String,
    pub id: Uuid,
    pub user_id: Uuid,
    pub chat_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

impl ShareItem {
    pub fn snapshot(link: &ShareLink, snapshot: String) -> Self {
        Self {
            snapshot: Some(snapshot),
            ..Self::build(link, keys::shared_pk(&link.share_id), keys::SHARE.into(), "share")
        }
    }

    pub fn entry(link: &ShareLink) -> Self {
        Self::build(
            link,
            keys::user_pk(link.user_id),
            keys::share_sk(link.id),
            "share_entry",
        )
    }

    pub fn mark(link: &ShareLink) -> Self {
        Self::build(link, keys::chat_pk(link.chat_id), keys::share_sk(link.id), "share_mark")
    }

    fn build(link: &ShareLink, pk: String, sk: String, kind: &str) -> Self {
        Self {
            pk,
            sk,
            kind: kind.into(),
            share_id: link.share_id.clone(),
            id: link.id,
            user_id: link.user_id,
            chat_id: link.chat_id,
            title: link.title.clone(),
            created_at: millis(link.created_at),
            snapshot: None,
        }
    }

    pub fn into_link(self) -> ShareLink {
        ShareLink {
            share_id: self.share_id,
            id: self.id,
            user_id: self.user_id,
            chat_id: self.chat_id,
            title: self.title,
            created_at: from_millis(self.created_at),
        }
    }
}

/// `USER#<id>` / `HOLD#<id>`: a reply's charge while the reply is under way.
#[derive(Debug, Serialize, Deserialize)]
pub struct HoldItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub id: Uuid,
    pub user_id: Uuid,
    pub cost: i64,
    pub created_at: i64,
    pub stale_at: i64,
}

impl HoldItem {
    pub fn new(hold: &Hold) -> Self {
        Self {
            pk: keys::user_pk(hold.user_id),
            sk: keys::hold_sk(hold.id),
            kind: "hold".into(),
            id: hold.id,
            user_id: hold.user_id,
            cost: hold.cost,
            created_at: millis(hold.created_at),
            stale_at: millis(hold.stale_at),
        }
    }

    pub fn into_hold(self) -> Hold {
        Hold {
            id: self.id,
            user_id: self.user_id,
            cost: self.cost,
            created_at: from_millis(self.created_at),
            stale_at: from_millis(self.stale_at),
        }
    }
}

/// `USER#<id>` / `IDEM#<key digest>`: an idempotency key, with its first answer
/// once there is one. `expires_at` is the TTL (seconds); `expires_ms` the instant
/// the store itself goes by, since DynamoDB drops expired items only eventually.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyedItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub user_id: Uuid,
    pub key_digest: String,
    pub request_digest: String,
    pub claim: Uuid,
    pub created_at: i64,
    pub running_until: i64,
    pub expires_ms: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl KeyedItem {
    /// A claim: the record without an answer.
    pub fn claim(request: &KeyedRequest) -> Self {
        Self {
            pk: keys::user_pk(request.user_id),
            sk: keys::idempotency_sk(&request.key_digest),
            kind: "idempotency_key".into(),
            user_id: request.user_id,
            key_digest: request.key_digest.clone(),
            request_digest: request.request_digest.clone(),
            claim: request.claim,
            created_at: millis(request.created_at),
            running_until: millis(request.running_until),
            expires_ms: millis(request.expires_at),
            expires_at: ttl_seconds(request.expires_at),
            status: None,
            content_type: None,
            body: None,
        }
    }

    pub fn into_keyed(self) -> KeyedRequest {
        KeyedRequest {
            user_id: self.user_id,
            key_digest: self.key_digest,
            request_digest: self.request_digest,
            claim: self.claim,
            created_at: from_millis(self.created_at),
            running_until: from_millis(self.running_until),
            expires_at: from_millis(self.expires_ms),
            answer: self.status.map(|status| KeptAnswer {
                status,
                content_type: self.content_type,
                body: self.body.unwrap_or_default(),
            }),
        }
    }
}

/// `CHAT#<id>` / `CHAT` (found by id), and its copy `USER#<owner>` / `CHAT#<id>`
/// that carries the index keys: `time_key` (the owner's chats by time) and, while
/// the chat is open, `open_key`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChatItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub id: Uuid,
    pub user_id: Uuid,
    /// Chats written before numbers existed have none (0).
    #[serde(default)]
    pub number: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_key: Option<String>,
}

impl ChatItem {
    pub fn record(chat: &Chat) -> Self {
        Self {
            pk: keys::chat_pk(chat.id),
            sk: keys::CHAT.into(),
            kind: "chat".into(),
            id: chat.id,
            user_id: chat.user_id,
            number: chat.number,
            title: chat.title.clone(),
            created_at: millis(chat.created_at),
            end_time: chat.end_time.map(millis),
            time_key: None,
            open_key: None,
        }
    }

    pub fn entry(chat: &Chat) -> Self {
        Self {
            pk: keys::user_pk(chat.user_id),
            sk: keys::chat_entry_sk(chat.id),
            kind: "chat_entry".into(),
            time_key: Some(chat_time_key(chat).render()),
            open_key: chat_open_key(chat),
            ..Self::record(chat)
        }
    }

    pub fn into_chat(self) -> Chat {
        Chat {
            id: self.id,
            user_id: self.user_id,
            number: self.number,
            title: self.title,
            created_at: from_millis(self.created_at),
            end_time: self.end_time.map(from_millis),
        }
    }
}

pub fn chat_time_key(chat: &Chat) -> TimeKey {
    TimeKey::of(chat.created_at, chat.id)
}

/// Present only while the chat has no end time: the sparse `open_chats` index.
pub fn chat_open_key(chat: &Chat) -> Option<String> {
    chat.end_time.is_none().then(|| chat_time_key(chat).render())
}

/// `CHAT#<chat>` / `MSG#<id>`: one item per message, never a whole conversation.
/// `time_key` only while current (so superseded replies drop out of lists without a
/// filter) and `reply_key` on replies (the versions of one answer).
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub id: Uuid,
    pub chat_id: Uuid,
    pub role: String,
    pub content: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Uuid>,
    pub superseded: bool,
    /// Absent on items written before streaming existed: those are whole.
    #[serde(default)]
    pub partial: bool,
    /// Absent until a reply to this (user) message is stored: version 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_version: i64,
    /// Absent on a chat's first message and on items written before the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_key: Option<String>,
}

impl MessageItem {
    pub fn new(message: &Message) -> Self {
        Self {
            pk: keys::chat_pk(message.chat_id),
            sk: keys::message_sk(message.id),
            kind: "message".into(),
            id: message.id,
            chat_id: message.chat_id,
            role: message.role.as_str().into(),
            content: message.content.clone(),
            created_at: millis(message.created_at),
            edited_at: message.edited_at.map(millis),
            provider: message.provider.clone(),
            model: message.model.clone(),
            reply_to: message.reply_to,
            superseded: message.superseded,
            partial: message.partial,
            reply_version: message.reply_version,
            parent_id: message.parent_id,
            time_key: message_time_key(message),
            reply_key: message
                .reply_to
                .map(|to| keys::reply_key(to, TimeKey::of(message.created_at, message.id))),
        }
    }

    pub fn into_message(self) -> StoreResult<Message> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("message {} has an unknown role", self.id)))?;
        Ok(Message {
            id: self.id,
            chat_id: self.chat_id,
            role,
            content: self.content,
            created_at: from_millis(self.created_at),
            edited_at: self.edited_at.map(from_millis),
            provider: self.provider,
            model: self.model,
            reply_to: self.reply_to,
            superseded: self.superseded,
            partial: self.partial,
            reply_version: self.reply_version,
            parent_id: self.parent_id,
        })
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Present only on current messages: the sparse `by_time` index lists exactly what
/// `list_messages` and `recent_messages` return.
pub fn message_time_key(message: &Message) -> Option<String> {
    (!message.superseded).then(|| TimeKey::of(message.created_at, message.id).render())
}

/// Reads a whole-number attribute (`ReturnValues` answers).
pub fn number(item: &Item, name: &str) -> StoreResult<i64> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("DynamoDB answered without a numeric `{name}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(superseded: bool, reply_to: Option<Uuid>) -> Message {
        Message {
            id: Uuid::now_v7(),
            chat_id: Uuid::now_v7(),
            role: Role::Assistant,
            content: "hi".into(),
            created_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
            edited_at: None,
            provider: Some("scripted".into()),
            model: None,
            reply_to,
            superseded,
            partial: false,
            reply_version: 0,
            parent_id: None,
        }
    }

    #[test]
    fn records_round_trip_through_items() {
        let m = message(false, Some(Uuid::now_v7()));
        let item = to_item(&MessageItem::new(&m)).unwrap();
        assert!(item.contains_key("time_key") && item.contains_key("reply_key"));
        assert!(!item.contains_key("model"), "absent values are absent, not NULL");
        assert_eq!(from_item::<MessageItem>(item).unwrap().into_message().unwrap(), m);
        let chat = Chat {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            number: 7,
            title: None,
            created_at: m.created_at,
            end_time: Some(m.created_at),
        };
        let entry = to_item(&ChatItem::entry(&chat)).unwrap();
        assert!(entry.contains_key("time_key") && !entry.contains_key("open_key"));
        assert!(!to_item(&ChatItem::record(&chat)).unwrap().contains_key("time_key"));
        assert_eq!(from_item::<ChatItem>(entry).unwrap().into_chat(), chat);
    }

    #[test]
    fn superseded_messages_leave_the_time_index() {
        assert!(MessageItem::new(&message(true, None)).time_key.is_none());
        assert!(MessageItem::new(&message(false, None)).reply_key.is_none());
    }

    #[test]
    fn unknown_roles_and_missing_numbers_are_errors_not_panics() {
        let mut item = MessageItem::new(&message(false, None));
        item.role = "wizard".into();
        assert!(item.into_message().is_err());
        assert!(number(&Item::new(), "tokens").is_err());
        let item = Item::from([("tokens".to_string(), AttributeValue::S("x".into()))]);
        assert!(number(&item, "tokens").is_err());
    }

    #[test]
    fn ttl_rounds_up_to_whole_seconds() {
        let t = Utc.timestamp_millis_opt(1_500).unwrap();
        assert_eq!(ttl_seconds(t), 2);
        assert_eq!(ttl_seconds(Utc.timestamp_millis_opt(2_000).unwrap()), 2);
    }
}
