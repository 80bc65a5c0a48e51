//! Chats: the record found by id, its copy in the owner's partition (listed by
//! time, and by the sparse open-chat index), and deletion of a chat's partition.

use aws_sdk_dynamodb::types::{AttributeValue, Delete as TxDelete, TransactWriteItem, Update as TxUpdate};
use futures::{StreamExt as _, TryStreamExt as _};
use uuid::Uuid;

use aws_sdk_dynamodb::types::ReturnValue;

use super::items::{chat_open_key, from_item, number, to_item, ChatItem, ChatNumberItem, Item, MessageItem};
use super::keys::{self, TimeKey, DELETING, OPEN_CHATS, OPEN_KEY, PK, SK, TIME_KEY};
use super::requests::{
    delete_keys, internal, is_condition_failed, key, key_of, n, put_items, query_all, s, sdk_error, Update,
};
use super::DynamoStore;
use crate::{Chat, ChatQuery, Message, Page, StoreError, StoreResult};

/// Chat entries read per request while searching (the matches are picked in code).
const SEARCH_PAGE: usize = 100;
/// Chats whose partitions are read at once while deleting many.
const PARALLEL_CHATS: usize = 8;

impl DynamoStore {
    /// A counter on the owner's profile, raised with one conditional update.
    pub(super) async fn next_chat_number(&self, user_id: Uuid) -> StoreResult<i64> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), keys::PROFILE)))
            .update_expression("ADD #numbers :one")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#numbers", "chat_numbers")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(answer) => number(&answer.attributes.unwrap_or_default(), "chat_numbers"),
            Err(err) if is_condition_failed(&err) => Err(internal(format!("no user {user_id} to number a chat of"))),
            Err(err) => Err(sdk_error("next_chat_number", err)),
        }
    }

    /// The record, its entry under the owner and its number's claim in one
    /// transaction; the record's condition makes the id unique whoever owns it, the
    /// claim's makes the number unique within the account.
    pub(super) async fn create_chat(&self, chat: &Chat) -> StoreResult<()> {
        let actions = vec![
            TransactWriteItem::builder()
                .put(self.put(to_item(&ChatItem::record(chat))?, Some("attribute_not_exists(pk)"))?)
                .build(),
            TransactWriteItem::builder()
                .put(self.put(to_item(&ChatItem::entry(chat))?, None)?)
                .build(),
            TransactWriteItem::builder()
                .put(self.put(to_item(&ChatNumberItem::new(chat))?, Some("attribute_not_exists(pk)"))?)
                .build(),
        ];
        match self.transact("create_chat", actions).await? {
            None => Ok(()),
            Some(2) => Err(StoreError::Conflict { field: "number" }),
            Some(_) => Err(StoreError::Conflict { field: "chat_id" }),
        }
    }

    /// The chat (one transaction, as `create_chat`), then its messages 25 to a
    /// batch; should a batch fail, the chat is deleted with what was written.
    pub(super) async fn import_chat(&self, chat: &Chat, messages: &[Message]) -> StoreResult<()> {
        self.create_chat(chat).await?;
        let items = messages
            .iter()
            .map(|message| to_item(&MessageItem::new(message)))
            .collect::<StoreResult<Vec<_>>>();
        let written = match items {
            Ok(items) => put_items(&self.client, &self.table, items).await,
            Err(err) => Err(err),
        };
        if let Err(err) = written {
            if let Err(undo) = self.delete_chat(chat.id).await {
                tracing::error!(chat_id = %chat.id, error = %undo, "a failed import's chat was not removed");
            }
            return Err(err);
        }
        Ok(())
    }

    /// Follows the number's claim to the chat's entry: two reads.
    pub(super) async fn chat_by_number(&self, user_id: Uuid, number: i64) -> StoreResult<Option<Chat>> {
        let Some(claim) = self.get(keys::user_pk(user_id), &keys::chat_number_sk(number)).await? else {
            return Ok(None);
        };
        let claim: ChatNumberItem = from_item(claim)?;
        match self
            .get(keys::user_pk(user_id), &keys::chat_entry_sk(claim.chat_id))
            .await?
        {
            Some(entry) => Ok(Some(from_item::<ChatItem>(entry)?.into_chat())),
            None => Ok(None),
        }
    }

    pub(super) async fn chat(&self, id: Uuid) -> StoreResult<Option<Chat>> {
        match self.get(keys::chat_pk(id), keys::CHAT).await? {
            Some(item) => Ok(Some(from_item::<ChatItem>(item)?.into_chat())),
            None => Ok(None),
        }
    }

    /// The newest entry of the sparse open-chat index: one strongly consistent query.
    pub(super) async fn open_chat(&self, user_id: Uuid) -> StoreResult<Option<Chat>> {
        let query = self.range_query(
            keys::user_pk(user_id),
            OPEN_CHATS,
            OPEN_KEY,
            (TimeKey::MIN, TimeKey::MAX),
            false,
        );
        let newest = self.take(query, 1).await?;
        match newest.into_iter().next() {
            Some(item) => Ok(Some(from_item::<ChatItem>(item)?.into_chat())),
            None => Ok(None),
        }
    }

    /// Newest first. The period and the cursor become the bounds of one key range on
    /// the `by_time` index; a search reads chats page by page and keeps the matches.
    pub(super) async fn list_chats(&self, user_id: Uuid, query: &ChatQuery, page: Page) -> StoreResult<Vec<Chat>> {
        let Some(range) = self.chat_range(user_id, query, page).await? else {
            return Ok(Vec::new());
        };
        let term = query.search.as_deref().filter(|t| !t.is_empty()).map(str::to_lowercase);
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(id) = query.session_id {
            let entry = self.get(keys::user_pk(user_id), &keys::chat_entry_sk(id)).await?;
            let Some(chat) = entry
                .map(|e| from_item::<ChatItem>(e).map(ChatItem::into_chat))
                .transpose()?
            else {
                return Ok(Vec::new());
            };
            let key = TimeKey::of(chat.created_at, chat.id);
            let in_range = range.0 <= key && key <= range.1;
            let found = in_range && self.matches(&chat, term.as_deref()).await?;
            return Ok(if found { vec![chat] } else { Vec::new() });
        }
        let by_time = self.range_query(keys::user_pk(user_id), keys::BY_TIME, TIME_KEY, range, false);
        let Some(term) = term else {
            let items = self.take(by_time, page.limit).await?;
            return items
                .into_iter()
                .map(|item| from_item::<ChatItem>(item).map(ChatItem::into_chat))
                .collect();
        };
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let answer = by_time
                .clone()
                .limit(SEARCH_PAGE as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| super::requests::sdk_error("query", e))?;
            for item in answer.items.unwrap_or_default() {
                let chat = from_item::<ChatItem>(item)?.into_chat();
                if self.matches(&chat, Some(&term)).await? {
                    found.push(chat);
                    if found.len() == page.limit {
                        return Ok(found);
                    }
                }
            }
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// `[from, to)` and "older than the cursor" as one inclusive range of time keys;
    /// `None` when it is empty (or the cursor names none of the user's chats, as in
    /// SQLite).
    async fn chat_range(
        &self,
        user_id: Uuid,
        query: &ChatQuery,
        page: Page,
    ) -> StoreResult<Option<(TimeKey, TimeKey)>> {
        let low = query.created_from.map(TimeKey::start_of).unwrap_or(TimeKey::MIN);
        let mut high = match query.created_to {
            Some(to) => match TimeKey::start_of(to).before() {
                Some(high) => high,
                None => return Ok(None),
            },
            None => TimeKey::MAX,
        };
        if let Some(after) = page.after {
            let Some(cursor) = self.chat(after).await?.filter(|c| c.user_id == user_id) else {
                return Ok(None);
            };
            match TimeKey::of(cursor.created_at, cursor.id).before() {
                Some(before) => high = high.min(before),
                None => return Ok(None),
            }
        }
        Ok((low <= high).then_some((low, high)))
    }

    /// Case-insensitive substring of the title or of any of the chat's messages
    /// (superseded ones included, as in SQLite), read until the first match.
    async fn matches(&self, chat: &Chat, term: Option<&str>) -> StoreResult<bool> {
        let Some(term) = term else {
            return Ok(true);
        };
        if chat.title.as_deref().is_some_and(|t| t.to_lowercase().contains(term)) {
            return Ok(true);
        }
        let query = self
            .prefixed(keys::chat_pk(chat.id), keys::MESSAGE_PREFIX)
            .expression_attribute_names("#content", "content")
            .projection_expression("#content");
        let mut start = None;
        loop {
            let answer = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| super::requests::sdk_error("query", e))?;
            let hit = answer.items().iter().any(|item| {
                item.get("content")
                    .and_then(|c| c.as_s().ok())
                    .is_some_and(|c| c.to_lowercase().contains(term))
            });
            if hit {
                return Ok(true);
            }
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(false);
            }
        }
    }

    /// Title and end time on the record and on the entry (whose open-chat key comes
    /// and goes with the end time), together; a chat that is gone stays gone.
    pub(super) async fn update_chat(&self, chat: &Chat) -> StoreResult<()> {
        let fields = Update::new()
            .set_or_remove("title", chat.title.clone().map(s))
            .set_or_remove(
                "end_time",
                chat.end_time.map(|t| super::requests::n(t.timestamp_millis())),
            )
            .name(PK);
        let entry_fields = fields.clone().set_or_remove(OPEN_KEY, chat_open_key(chat).map(s));
        let update = |pk: String, sk: String, fields: &Update| {
            TxUpdate::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression(fields.expression())
                .condition_expression("attribute_exists(#pk)")
                .set_expression_attribute_names(Some(fields.names.clone()))
                .set_expression_attribute_values(fields.values_or_none())
                .build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(|e| internal(format!("a chat update: {e}")))
        };
        let actions = vec![
            update(keys::chat_pk(chat.id), keys::CHAT.into(), &fields)?,
            update(keys::user_pk(chat.user_id), keys::chat_entry_sk(chat.id), &entry_fields)?,
        ];
        // A failed condition: the chat was deleted meanwhile, which SQLite's UPDATE
        // also ignores.
        self.transact("update_chat", actions).await.map(|_| ())
    }

    /// The chat's partition (record and messages), and its entry and number's claim
    /// under the owner, in an order that a cut can be repeated from: the record is
    /// marked `deleting` first (from then on no message can be added, see
    /// `add_message`), the messages go next, and the record, the entry and the
    /// claim last, together. Until then the chat is found by id, by number and in
    /// its owner's list, so a second delete finishes the job; after it nothing of
    /// the chat is left for a later chat with the same id to read.
    pub(super) async fn delete_chat(&self, id: Uuid) -> StoreResult<()> {
        let Some(record) = self.mark_deleting(id).await? else {
            // No record: what an earlier delete may have left (none does now).
            return self.delete_chat_partitions(&[id]).await;
        };
        self.delete_messages_of(&[id]).await?;
        let owner = keys::user_pk(record.user_id);
        let mut doomed = vec![
            key(keys::chat_pk(id), keys::CHAT),
            key(owner.clone(), keys::chat_entry_sk(id)),
        ];
        if record.number > 0 {
            doomed.push(key(owner, keys::chat_number_sk(record.number)));
        }
        let actions = doomed
            .into_iter()
            .map(|item_key| {
                TxDelete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key))
                    .build()
                    .map(|d| TransactWriteItem::builder().delete(d).build())
                    .map_err(|e| internal(format!("a chat delete: {e}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact("delete_chat", actions).await.map(|_| ())
    }

    /// Marks the chat's record as being deleted and returns it; `None` when there
    /// is no record.
    async fn mark_deleting(&self, id: Uuid) -> StoreResult<Option<ChatItem>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::chat_pk(id), keys::CHAT)))
            .update_expression("SET #deleting = :yes")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#deleting", DELETING)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(answer) => Ok(Some(from_item(answer.attributes.unwrap_or_default())?)),
            Err(err) if is_condition_failed(&err) => Ok(None),
            Err(err) => Err(sdk_error("mark_deleting", err)),
        }
    }

    pub(super) async fn delete_chats_of(&self, user_id: Uuid) -> StoreResult<u64> {
        let entries = query_all(
            self.prefixed(keys::user_pk(user_id), keys::CHAT_PREFIX)
                .projection_expression("#pk, #sk, id, #number")
                .expression_attribute_names("#number", "number"),
        )
        .await?;
        let ids = entries
            .iter()
            .map(|entry| {
                entry
                    .get("id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .ok_or_else(|| internal("a chat entry without an id"))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.delete_chat_partitions(&ids).await?;
        let mut entry_keys = entries.iter().map(key_of).collect::<StoreResult<Vec<_>>>()?;
        for entry in &entries {
            if let Some(number) = chat_number(entry)? {
                entry_keys.push(key(keys::user_pk(user_id), keys::chat_number_sk(number)));
            }
        }
        delete_keys(&self.client, &self.table, entry_keys).await?;
        Ok(ids.len() as u64)
    }

    /// Deletes the partitions of these chats (not their entries), reading a few at
    /// once and deleting 25 keys to a request: every record is marked `deleting`
    /// first and deleted last, after its messages, so no message can be added
    /// meanwhile, and a cut leaves the entries (which the callers delete after
    /// this) to lead a second delete to whatever is left.
    pub(super) async fn delete_chat_partitions(&self, ids: &[Uuid]) -> StoreResult<()> {
        let marks: Vec<_> = ids.iter().map(|id| self.mark_deleting(*id)).collect();
        let _: Vec<Option<ChatItem>> = futures::stream::iter(marks)
            .buffer_unordered(PARALLEL_CHATS)
            .try_collect()
            .await?;
        self.delete_messages_of(ids).await?;
        let records = ids.iter().map(|id| key(keys::chat_pk(*id), keys::CHAT)).collect();
        delete_keys(&self.client, &self.table, records).await
    }

    /// Every item of these chats' partitions but their records.
    async fn delete_messages_of(&self, ids: &[Uuid]) -> StoreResult<()> {
        // Built first: a closure inside the stream trips the `Send` check of the
        // trait's futures (a higher-ranked lifetime the compiler cannot prove).
        let reads: Vec<_> = ids.iter().map(|id| self.chat_partition(*id)).collect();
        let partitions: Vec<Vec<Item>> = futures::stream::iter(reads)
            .buffer_unordered(PARALLEL_CHATS)
            .try_collect()
            .await?;
        let mut doomed = Vec::new();
        for item in partitions.iter().flatten() {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str);
            if sk == Some(keys::CHAT) {
                continue;
            }
            if sk.is_some_and(|sk| sk.starts_with(keys::SHARE_PREFIX)) {
                // A share link's mark: its snapshot (first, so the link stops
                // working before anything else goes) and its owner's entry.
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .ok_or_else(|| internal(format!("a share's mark without {name}")))
                };
                doomed.insert(0, key(keys::shared_pk(text("share_id")?), keys::SHARE));
                let owner = Uuid::parse_str(text("user_id")?).map_err(|_| internal("a share mark's user_id"))?;
                doomed.push(key(keys::user_pk(owner), text(SK)?.clone()));
            }
            doomed.push(key_of(item)?);
        }
        delete_keys(&self.client, &self.table, doomed).await
    }

    /// Every item keyed by the chat, with just its key and (on the record) owner.
    async fn chat_partition(&self, id: Uuid) -> StoreResult<Vec<Item>> {
        query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(keys::chat_pk(id)))
                .projection_expression("#pk, #sk, user_id, #number, share_id")
                .expression_attribute_names("#number", "number")
                .consistent_read(true),
        )
        .await
    }
}

/// The number a chat record or entry carries; none on chats from before numbers.
fn chat_number(item: &Item) -> StoreResult<Option<i64>> {
    if !item.contains_key("number") {
        return Ok(None);
    }
    Ok(Some(number(item, "number")?).filter(|n| *n > 0))
}
