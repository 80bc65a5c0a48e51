//! Messages: one item each under their chat, listed through the sparse `by_time`
//! index (current messages only) and the `by_reply` index (versions of a reply).

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update as TxUpdate};
use uuid::Uuid;

use super::items::{from_item, message_time_key, to_item, MessageItem};
use super::keys::{self, TimeKey, BY_REPLY, BY_TIME, PK, REPLY_KEY, TIME_KEY};
use super::requests::{internal, is_condition_failed, key, n, query_all, s, sdk_error, Update};
use super::DynamoStore;
use crate::{Hold, Message, Page, ReplyOutcome, Spent, StoreResult};

/// The attribute of a user message that `add_reply` checks and advances.
const REPLY_VERSION: &str = "reply_version";

/// DynamoDB's limit on the actions of one TransactWriteItems request.
const MAX_TRANSACTION_ACTIONS: usize = 100;

/// A message may be added to a chat whose record exists and is not being
/// deleted (see `delete_chat`).
const CHAT_LIVE: &str = "attribute_exists(pk) AND attribute_not_exists(#deleting)";

impl DynamoStore {
    /// The message, on the condition that its chat still exists: a reply that
    /// arrives after its chat was deleted is refused, never left orphaned (as
    /// SQLite's foreign key refuses it). One transaction: a check and a put.
    pub(super) async fn add_message(&self, message: &Message) -> StoreResult<()> {
        let actions = vec![
            self.chat_live(message.chat_id)?,
            TransactWriteItem::builder()
                .put(self.put(to_item(&MessageItem::new(message))?, Some("attribute_not_exists(pk)"))?)
                .build(),
        ];
        match self.transact("add_message", actions).await? {
            None => Ok(()),
            Some(0) => Err(internal(format!("chat {} is gone", message.chat_id))),
            Some(_) => Err(internal(format!("message {} exists", message.id))),
        }
    }

    /// One transaction: the chat still exists; the question's `reply_version` is
    /// the one read, and advances; the reply is put; its hold ends; the earlier
    /// replies (still there) are superseded and leave the `by_time` index; the
    /// messages that followed them follow the reply.
    pub(super) async fn add_reply(
        &self,
        reply: &Message,
        question: &Message,
        earlier: &[Message],
        followers: &[Message],
        hold: &Hold,
        spent: &Spent,
    ) -> StoreResult<ReplyOutcome> {
        let chat_pk = keys::chat_pk(question.chat_id);
        let version = Update::new()
            .set(REPLY_VERSION, n(question.reply_version + 1))
            .name(PK)
            .value(":read", n(question.reply_version));
        // An item never replied to has no version attribute: version 0.
        let unchanged = if question.reply_version == 0 {
            format!("attribute_exists(#pk) AND (attribute_not_exists(#{REPLY_VERSION}) OR #{REPLY_VERSION} = :read)")
        } else {
            format!("attribute_exists(#pk) AND #{REPLY_VERSION} = :read")
        };
        let advance = TxUpdate::builder()
            .table_name(&self.table)
            .set_key(Some(key(chat_pk.clone(), keys::message_sk(question.id))))
            .update_expression(version.expression())
            .condition_expression(unchanged)
            .set_expression_attribute_names(Some(version.names.clone()))
            .set_expression_attribute_values(version.values_or_none())
            .build()
            .map_err(|e| internal(format!("a reply version update: {e}")))?;
        let mut actions = vec![
            self.chat_live(question.chat_id)?,
            TransactWriteItem::builder().update(advance).build(),
            TransactWriteItem::builder()
                .put(self.put(to_item(&MessageItem::new(reply))?, Some("attribute_not_exists(pk)"))?)
                .build(),
            self.hold_end(hold)?,
            self.usage_add(hold, spent)?,
        ];
        for old in earlier {
            actions.push(self.place(old, false, false)?);
        }
        for follower in followers {
            let follows = Update::new().set("parent_id", s(reply.id.to_string())).name(PK);
            let update = TxUpdate::builder()
                .table_name(&self.table)
                .set_key(Some(key(chat_pk.clone(), keys::message_sk(follower.id))))
                .update_expression(follows.expression())
                .condition_expression("attribute_exists(#pk)")
                .set_expression_attribute_names(Some(follows.names.clone()))
                .set_expression_attribute_values(follows.values_or_none())
                .build()
                .map_err(|e| internal(format!("a follower update: {e}")))?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        match self.transact("add_reply", actions).await? {
            None => Ok(ReplyOutcome::Stored),
            // The question is there with another version: someone else's reply won.
            Some(1) if self.message(question.chat_id, question.id).await?.is_some() => Ok(ReplyOutcome::Raced),
            Some(2) => Err(internal(format!("message {} exists", reply.id))),
            Some(3) => Ok(ReplyOutcome::Unpaid),
            // The chat, the question or an earlier reply is gone: deleted meanwhile.
            Some(_) => Ok(ReplyOutcome::QuestionGone),
        }
    }

    /// Puts `message` on the chat's active branch (`on`) or takes it off, which
    /// also takes it out of the `by_time` index; a message that is gone fails the
    /// transaction, and so does one already placed so when `guarded` (another
    /// switch came first).
    fn place(&self, message: &Message, on: bool, guarded: bool) -> StoreResult<TransactWriteItem> {
        let mut placed = Update::new().set("superseded", AttributeValue::Bool(!on)).name(PK);
        let condition = if guarded {
            // `superseded` was `on`: off the branch before being put on it.
            placed = placed.value(":was", AttributeValue::Bool(on));
            "attribute_exists(#pk) AND #superseded = :was"
        } else {
            "attribute_exists(#pk)"
        };
        placed = if on {
            placed.set(TIME_KEY, s(TimeKey::of(message.created_at, message.id).render()))
        } else {
            placed.remove(TIME_KEY)
        };
        let update = TxUpdate::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::chat_pk(message.chat_id), keys::message_sk(message.id))))
            .update_expression(placed.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(placed.names.clone()))
            .set_expression_attribute_values(placed.values_or_none())
            .build()
            .map_err(|e| internal(format!("a branch update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Every message of the chat (one query, more pages for a long chat), oldest first.
    pub(super) async fn chat_messages(&self, chat_id: Uuid) -> StoreResult<Vec<Message>> {
        let items = query_all(self.prefixed(keys::chat_pk(chat_id), keys::MESSAGE_PREFIX)).await?;
        let mut messages = items
            .into_iter()
            .map(|item| from_item::<MessageItem>(item)?.into_message())
            .collect::<StoreResult<Vec<_>>>()?;
        messages.sort_by_key(|m| (m.created_at, m.id));
        Ok(messages)
    }

    /// One transaction (a chat check, the new message, the placements) while it
    /// fits DynamoDB's 100 actions; a switch over a longer branch continues in
    /// further transactions of the remaining placements, each checking the chat.
    pub(super) async fn switch_branch(
        &self,
        chat_id: Uuid,
        add: Option<&Message>,
        on: &[Message],
        off: &[Message],
    ) -> StoreResult<bool> {
        let mut placements = Vec::with_capacity(on.len() + off.len());
        for message in on {
            placements.push(self.place(message, true, true)?);
        }
        for message in off {
            placements.push(self.place(message, false, true)?);
        }
        let mut added = add.map(|message| -> StoreResult<TransactWriteItem> {
            Ok(TransactWriteItem::builder()
                .put(self.put(to_item(&MessageItem::new(message))?, Some("attribute_not_exists(pk)"))?)
                .build())
        });
        let mut rest = placements.into_iter().peekable();
        loop {
            let mut actions = vec![self.chat_live(chat_id)?];
            if let Some(put) = added.take() {
                actions.push(put?);
            }
            while actions.len() < MAX_TRANSACTION_ACTIONS {
                match rest.next() {
                    Some(action) => actions.push(action),
                    None => break,
                }
            }
            if self.transact("switch_branch", actions).await?.is_some() {
                return Ok(false);
            }
            if rest.peek().is_none() {
                return Ok(true);
            }
        }
    }

    /// The condition that the chat exists and is not being deleted.
    fn chat_live(&self, chat_id: Uuid) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::chat_pk(chat_id), keys::CHAT)))
            .condition_expression(CHAT_LIVE)
            .expression_attribute_names("#deleting", keys::DELETING)
            .build()
            .map_err(|e| internal(format!("a chat check: {e}")))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    pub(super) async fn message(&self, chat_id: Uuid, id: Uuid) -> StoreResult<Option<Message>> {
        match self.get(keys::chat_pk(chat_id), &keys::message_sk(id)).await? {
            Some(item) => Ok(Some(from_item::<MessageItem>(item)?.into_message()?)),
            None => Ok(None),
        }
    }

    /// Oldest first, strictly after the cursor message (one read to learn its time).
    pub(super) async fn list_messages(&self, chat_id: Uuid, page: Page) -> StoreResult<Vec<Message>> {
        let low = match page.after {
            None => TimeKey::MIN,
            Some(after) => match self.message(chat_id, after).await? {
                Some(cursor) => match TimeKey::of(cursor.created_at, cursor.id).after() {
                    Some(low) => low,
                    None => return Ok(Vec::new()),
                },
                None => return Ok(Vec::new()),
            },
        };
        let query = self.range_query(keys::chat_pk(chat_id), BY_TIME, TIME_KEY, (low, TimeKey::MAX), true);
        self.messages(query, page.limit).await
    }

    /// Newest first, up to and including `up_to`.
    pub(super) async fn recent_messages(
        &self,
        chat_id: Uuid,
        up_to: Option<&Message>,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let high = up_to.map_or(TimeKey::MAX, |last| TimeKey::of(last.created_at, last.id));
        let query = self.range_query(keys::chat_pk(chat_id), BY_TIME, TIME_KEY, (TimeKey::MIN, high), false);
        self.messages(query, limit).await
    }

    pub(super) async fn replies_to(&self, chat_id: Uuid, user_message: Uuid) -> StoreResult<Vec<Message>> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name(BY_REPLY)
                .key_condition_expression("#pk = :pk AND begins_with(#reply, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#reply", REPLY_KEY)
                .expression_attribute_values(":pk", s(keys::chat_pk(chat_id)))
                .expression_attribute_values(":prefix", s(keys::reply_prefix(user_message)))
                .consistent_read(true),
        )
        .await?;
        items
            .into_iter()
            .map(|item| from_item::<MessageItem>(item)?.into_message())
            .collect()
    }

    /// Content, edit time and the superseded flag; superseding also takes the
    /// message out of the `by_time` index. A message that is gone stays gone.
    pub(super) async fn update_message(&self, message: &Message) -> StoreResult<()> {
        let update = Update::new()
            .set("content", s(&message.content))
            .set_or_remove("edited_at", message.edited_at.map(|t| n(t.timestamp_millis())))
            .set("superseded", AttributeValue::Bool(message.superseded))
            .set_or_remove(TIME_KEY, message_time_key(message).map(s))
            .name(PK);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::chat_pk(message.chat_id), keys::message_sk(message.id))))
            .update_expression(update.expression())
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(update.names.clone()))
            .set_expression_attribute_values(update.values_or_none())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Ok(()),
            Err(err) => Err(sdk_error("update_message", err)),
        }
    }

    async fn messages(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.take(query, limit)
            .await?
            .into_iter()
            .map(|item| from_item::<MessageItem>(item)?.into_message())
            .collect()
    }
}
