//! Share links on DynamoDB: three items written together (`keys::SHARE`). Anyone
//! reads the snapshot by its public id with one GetItem; the owner lists the
//! entries; deleting the chat finds the marks in its partition. Revoking deletes
//! the snapshot first, so a link stops working at once.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem};
use uuid::Uuid;

use super::items::{from_item, to_item, Item, ShareItem};
use super::keys;
use super::requests::{internal, key, s};
use super::DynamoStore;
use crate::{snapshot_from_json, snapshot_json, Page, ShareLink, SharedMessage, StoreResult};

impl DynamoStore {
    /// One transaction: the chat is there and not being deleted (see
    /// `delete_chat`), and the three items are put.
    pub(super) async fn create_share(&self, link: &ShareLink, messages: &[SharedMessage]) -> StoreResult<bool> {
        let chat_live = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::chat_pk(link.chat_id), keys::CHAT)))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#deleting)")
            .expression_attribute_names("#deleting", keys::DELETING)
            .build()
            .map_err(|e| internal(format!("a share's chat check: {e}")))?;
        let mut actions = vec![TransactWriteItem::builder().condition_check(chat_live).build()];
        let items = [
            ShareItem::snapshot(link, snapshot_json(messages)),
            ShareItem::entry(link),
            ShareItem::mark(link),
        ];
        for item in &items {
            let put = self.put(to_item(item)?, Some("attribute_not_exists(pk)"))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact("create_share", actions).await? {
            None => Ok(true),
            Some(0) => Ok(false),
            Some(_) => Err(internal(format!("share {} exists", link.id))),
        }
    }

    pub(super) async fn shared(&self, share_id: &str) -> StoreResult<Option<(ShareLink, Vec<SharedMessage>)>> {
        let Some(item) = self.get(keys::shared_pk(share_id), keys::SHARE).await? else {
            return Ok(None);
        };
        let mut item: ShareItem = from_item(item)?;
        let messages = snapshot_from_json(item.snapshot.as_deref().unwrap_or("[]"))?;
        item.snapshot = None;
        Ok(Some((item.into_link(), messages)))
    }

    /// Newest first: the owner's entries backwards, from the cursor's (a key range
    /// up to it, inclusive, so the cursor's own entry is dropped if still there).
    pub(super) async fn shares_of(&self, user_id: Uuid, page: Page) -> StoreResult<Vec<ShareLink>> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let pk = keys::user_pk(user_id);
        let (query, wanted) = match page.after {
            None => (self.prefixed(pk, keys::SHARE_PREFIX), page.limit),
            Some(after) => (
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_names("#sk", keys::SK)
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":low", s(keys::SHARE_PREFIX))
                    .expression_attribute_values(":high", s(keys::share_sk(after)))
                    .consistent_read(true),
                page.limit + 1,
            ),
        };
        let mut links = self
            .take(query.scan_index_forward(false), wanted)
            .await?
            .into_iter()
            .map(|item| from_item::<ShareItem>(item).map(ShareItem::into_link))
            .collect::<StoreResult<Vec<_>>>()?;
        links.retain(|link| Some(link.id) != page.after);
        links.truncate(page.limit);
        Ok(links)
    }

    pub(super) async fn delete_share(&self, user_id: Uuid, share_id: &str) -> StoreResult<bool> {
        let Some(item) = self.get(keys::shared_pk(share_id), keys::SHARE).await? else {
            return Ok(false);
        };
        let link = from_item::<ShareItem>(item)?.into_link();
        if link.user_id != user_id {
            return Ok(false);
        }
        let actions = share_keys(&link)
            .into_iter()
            .map(|item_key| {
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key))
                    .build()
                    .map(|delete| TransactWriteItem::builder().delete(delete).build())
                    .map_err(|e| internal(format!("a share's delete: {e}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact("delete_share", actions).await?;
        Ok(true)
    }
}

/// The keys of a link's three items, the snapshot first.
fn share_keys(link: &ShareLink) -> [Item; 3] {
    [
        key(keys::shared_pk(&link.share_id), keys::SHARE),
        key(keys::user_pk(link.user_id), keys::share_sk(link.id)),
        key(keys::chat_pk(link.chat_id), keys::share_sk(link.id)),
    ]
}
