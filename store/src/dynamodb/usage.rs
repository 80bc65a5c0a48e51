//! Usage on DynamoDB: a bucket item per user, hour, key and model in the user's
//! partition, its counters added to (`ADD`) by the transaction that ends a
//! charge's hold; read by one query over a range of hours.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update as TxUpdate};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::items::{from_item, from_millis, millis, Item};
use super::keys::{self, PK, SK};
use super::requests::{internal, key, n, query_all, s, sdk_error};
use super::DynamoStore;
use crate::{usage_hour, Hold, Spent, StoreResult, UsageBucket};

#[derive(Deserialize)]
struct UsageItem {
    user_id: Uuid,
    hour: i64,
    provider: String,
    model: String,
    #[serde(default)]
    key_id: Option<Uuid>,
    requests: i64,
    tokens_charged: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
}

fn bucket(item: Item) -> StoreResult<UsageBucket> {
    let item: UsageItem = from_item(item)?;
    Ok(UsageBucket {
        user_id: item.user_id,
        hour: from_millis(item.hour),
        provider: item.provider,
        model: item.model,
        key_id: item.key_id,
        requests: item.requests,
        tokens_charged: item.tokens_charged,
        prompt_tokens: item.prompt_tokens,
        completion_tokens: item.completion_tokens,
    })
}

impl DynamoStore {
    /// The transaction action that adds `hold`'s kept charge, as `spent`, to its
    /// user's usage.
    pub(super) fn usage_add(&self, hold: &Hold, spent: &Spent) -> StoreResult<TransactWriteItem> {
        let hour = millis(usage_hour(spent.at));
        let sk = keys::usage_sk(hour, &spent.provider, &spent.model, spent.key_id);
        let (set, key_value) = match spent.key_id {
            Some(id) => (", key_id = :key", Some(s(id.to_string()))),
            None => ("", None),
        };
        let mut update = TxUpdate::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(hold.user_id), sk)))
            .update_expression(format!(
                "SET kind = :kind, user_id = :user, #hour = :hour, provider = :provider, model = :model{set} \
                 ADD requests :one, tokens_charged :cost, prompt_tokens :prompt, completion_tokens :completion"
            ))
            .expression_attribute_names("#hour", "hour")
            .expression_attribute_values(":kind", s("usage"))
            .expression_attribute_values(":user", s(hold.user_id.to_string()))
            .expression_attribute_values(":hour", n(hour))
            .expression_attribute_values(":provider", s(&spent.provider))
            .expression_attribute_values(":model", s(&spent.model))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cost", n(hold.cost))
            .expression_attribute_values(":prompt", n(spent.prompt_tokens))
            .expression_attribute_values(":completion", n(spent.completion_tokens));
        if let Some(value) = key_value {
            update = update.expression_attribute_values(":key", value);
        }
        let update = update.build().map_err(|e| internal(format!("a usage update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) async fn usage_of(
        &self,
        user_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        if from >= to {
            return Ok(Vec::new());
        }
        // Every bucket of an hour in [from, to): its key starts with that hour's
        // key, and the last hour's bucket keys sort below the key of `to` - 1 ms.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(keys::user_pk(user_id)))
            .expression_attribute_values(":from", s(keys::usage_hour_key(millis(from))))
            .expression_attribute_values(":to", s(keys::usage_hour_key(millis(to) - 1)))
            .consistent_read(true);
        query_all(query).await?.into_iter().map(bucket).collect()
    }

    pub(super) async fn usage_of_everyone(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("kind = :usage AND #hour >= :from AND #hour < :to")
            .expression_attribute_names("#hour", "hour")
            .expression_attribute_values(":usage", AttributeValue::S("usage".into()))
            .expression_attribute_values(":from", n(millis(from)))
            .expression_attribute_values(":to", n(millis(to)))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut buckets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("scan", e))?;
            for item in page.items.unwrap_or_default() {
                buckets.push(bucket(item)?);
            }
        }
        buckets.sort_by_key(|b| (b.hour, b.user_id));
        Ok(buckets)
    }
}
