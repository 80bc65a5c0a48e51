//! Personal API keys on DynamoDB: a lookup item by digest (one GetItem
//! authenticates) and an entry in the owner's partition with the counters.
//! Revoking deletes the lookup first, so a key stops working at once.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::items::{from_item, millis, to_item, ApiKeyItem};
use super::keys;
use super::requests::{delete_keys, internal, is_condition_failed, key, n, query_all, sdk_error};
use super::DynamoStore;
use crate::{ApiKey, StoreResult, User};

impl DynamoStore {
    pub(super) async fn create_api_key(&self, api_key: &ApiKey) -> StoreResult<()> {
        let absent = Some("attribute_not_exists(pk)");
        let actions = [ApiKeyItem::lookup(api_key), ApiKeyItem::entry(api_key)]
            .iter()
            .map(|item| {
                Ok(TransactWriteItem::builder()
                    .put(self.put(to_item(item)?, absent)?)
                    .build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        match self.transact("create_api_key", actions).await? {
            None => Ok(()),
            Some(_) => Err(internal(format!("API key {} exists", api_key.id))),
        }
    }

    pub(super) async fn api_keys_of(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        let entries = query_all(self.prefixed(keys::user_pk(user_id), keys::API_KEY_PREFIX)).await?;
        let mut api_keys = entries
            .into_iter()
            .map(|entry| Ok(from_item::<ApiKeyItem>(entry)?.into_api_key()))
            .collect::<StoreResult<Vec<_>>>()?;
        api_keys.sort_by_key(|k| (k.created_at, k.id));
        Ok(api_keys)
    }

    pub(super) async fn delete_api_key(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let Some(entry) = self.get(keys::user_pk(user_id), &keys::api_key_entry_sk(id)).await? else {
            return Ok(false);
        };
        let entry: ApiKeyItem = from_item(entry)?;
        let delete = |pk: String, sk: String| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .build()
                .map(|delete| TransactWriteItem::builder().delete(delete).build())
                .map_err(|e| internal(format!("an API key's delete: {e}")))
        };
        let actions = vec![
            delete(keys::api_key_pk(&entry.digest), keys::API_KEY.into())?,
            delete(keys::user_pk(user_id), keys::api_key_entry_sk(id))?,
        ];
        self.transact("delete_api_key", actions).await?;
        Ok(true)
    }

    pub(super) async fn delete_api_keys_of(&self, user_id: Uuid) -> StoreResult<()> {
        let entries = query_all(self.prefixed(keys::user_pk(user_id), keys::API_KEY_PREFIX)).await?;
        let mut doomed = Vec::new();
        for entry in entries {
            let entry: ApiKeyItem = from_item(entry)?;
            // The lookups first: batches go out in order, and a key stops
            // authenticating once its lookup is gone.
            doomed.insert(0, key(keys::api_key_pk(&entry.digest), keys::API_KEY));
            doomed.push(key(entry.pk, entry.sk));
        }
        delete_keys(&self.client, &self.table, doomed).await
    }

    /// The lookup, the counters' update (only while the entry exists: a key revoked
    /// meanwhile is refused), then the owner.
    pub(super) async fn use_api_key(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<(User, Uuid)>> {
        let Some(lookup) = self.get(keys::api_key_pk(digest), keys::API_KEY).await? else {
            return Ok(None);
        };
        let lookup: ApiKeyItem = from_item(lookup)?;
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(lookup.user_id),
                keys::api_key_entry_sk(lookup.id),
            )))
            .update_expression("ADD requests :one SET last_used_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match counted {
            Ok(_) => {}
            Err(err) if is_condition_failed(&err) => return Ok(None),
            Err(err) => return Err(sdk_error("use_api_key", err)),
        }
        Ok(self.user_by_id(lookup.user_id).await?.map(|user| (user, lookup.id)))
    }
}
