//! The balance and the holds of replies under way (`store::Hold`): a charge is the
//! balance's update and the hold's put in one transaction, a refund the hold's
//! delete and the balance's update in another, so each happens whole or not at all,
//! and a hold ends exactly once whoever tries to end it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update as TxUpdate};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::items::{from_item, millis, to_item, HoldItem};
use super::keys;
use super::requests::{internal, is_condition_failed, key, n, query_all, sdk_error};
use super::DynamoStore;
use crate::{Hold, Settled, Spent, StoreResult};

/// The actions of a charge, in order: a failed condition's index says which.
const CHARGE_HOLD_ACTION: usize = 0;
/// The actions of a refund, in order.
const HOLD_ACTION: usize = 0;

/// Name placeholders of the balance's attributes.
fn balance_names() -> HashMap<String, String> {
    ["pk", "tokens", "spent", "requests"]
        .into_iter()
        .map(|name| (format!("#{name}"), name.to_string()))
        .collect()
}

impl DynamoStore {
    /// The balance update of a charge (`sign` 1) or a refund (`sign` -1), on the
    /// condition that the account exists and, for a charge, can pay.
    fn balance_update(&self, user_id: Uuid, cost: i64, sign: i64) -> StoreResult<TransactWriteItem> {
        let condition = if sign > 0 {
            "attribute_exists(#pk) AND #tokens >= :cost"
        } else {
            "attribute_exists(#pk)"
        };
        let mut values = HashMap::from([(":delta".to_string(), n(sign * cost)), (":one".to_string(), n(sign))]);
        if sign > 0 {
            values.insert(":cost".into(), n(cost));
        }
        let update = TxUpdate::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), keys::PROFILE)))
            .update_expression("SET #tokens = #tokens - :delta, #spent = #spent + :delta, #requests = #requests + :one")
            .condition_expression(condition)
            .set_expression_attribute_names(Some(balance_names()))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| internal(format!("a balance update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The delete that ends a hold, on the condition that it has not ended yet.
    pub(super) fn hold_end(&self, hold: &Hold) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(hold.user_id), keys::hold_sk(hold.id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| internal(format!("a hold's end: {e}")))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub(super) async fn charge(&self, hold: &Hold) -> StoreResult<bool> {
        // The hold's put comes first, so that a cancellation names it whenever it
        // failed, whatever the balance's condition did.
        let actions = vec![
            TransactWriteItem::builder()
                .put(self.put(to_item(&HoldItem::new(hold))?, Some("attribute_not_exists(pk)"))?)
                .build(),
            self.balance_update(hold.user_id, hold.cost, 1)?,
        ];
        match self.transact("charge", actions).await? {
            None => Ok(true),
            // The hold is there already: only this charge puts a hold of this id
            // (each is new), so an earlier attempt of it landed and its answer was
            // lost. DynamoDB answers the SDK's own retry by its ClientRequestToken
            // (so does infra/moto_server.py); this covers a retry that was not
            // deduplicated. That attempt took the tokens; this one took nothing.
            Some(CHARGE_HOLD_ACTION) => Ok(true),
            // Short, or no such account: nothing taken.
            Some(_) => Ok(false),
        }
    }

    pub(super) async fn refund(&self, hold: &Hold) -> StoreResult<Settled> {
        let actions = vec![self.hold_end(hold)?, self.balance_update(hold.user_id, hold.cost, -1)?];
        match self.transact("refund", actions).await? {
            None => Ok(Settled::Now),
            Some(HOLD_ACTION) => Ok(Settled::Before),
            // The account is gone (deleted while its reply ran): the hold just ends.
            Some(_) => self.end(hold).await,
        }
    }

    /// Ends the hold and keeps its charge, counted as `spent` in the usage.
    pub(super) async fn settle(&self, hold: &Hold, spent: &Spent) -> StoreResult<Settled> {
        let actions = vec![self.hold_end(hold)?, self.usage_add(hold, spent)?];
        match self.transact("settle", actions).await? {
            None => Ok(Settled::Now),
            Some(_) => Ok(Settled::Before),
        }
    }

    /// Ends the hold, nothing more: an account deleted with its reply under way.
    async fn end(&self, hold: &Hold) -> StoreResult<Settled> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(hold.user_id), keys::hold_sk(hold.id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Settled::Now),
            Err(err) if is_condition_failed(&err) => Ok(Settled::Before),
            Err(err) => Err(sdk_error("settle", err)),
        }
    }

    /// One query of the user's hold entries: a user has one per reply under way.
    pub(super) async fn stale_holds(&self, user_id: Uuid, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Hold>> {
        let entries = query_all(self.prefixed(keys::user_pk(user_id), keys::HOLD_PREFIX)).await?;
        let mut stale = Vec::new();
        for entry in entries {
            let hold = from_item::<HoldItem>(entry)?;
            if hold.stale_at <= millis(now) {
                stale.push(hold.into_hold());
            }
        }
        stale.sort_by_key(|hold| (hold.stale_at, hold.id));
        stale.truncate(limit);
        Ok(stale)
    }
}
