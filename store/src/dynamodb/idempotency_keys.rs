//! Idempotency keys on DynamoDB: a claim is one conditional put (so two requests
//! with one key never both take it); finishing and releasing are conditional on
//! the claim, so a request whose claim was taken over changes nothing.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};

use super::items::{from_item, millis, to_item, KeyedItem};
use super::keys;
use super::requests::{is_condition_failed, key, n, s, sdk_error};
use super::DynamoStore;
use crate::{Claim, KeptAnswer, KeyedRequest, StoreResult};

/// Who may take the key: nobody holds it, it expired, or the same request's claim
/// was abandoned (its time to run is over and it kept no answer).
const FREE: &str = "attribute_not_exists(pk) OR expires_ms <= :now \
    OR (attribute_not_exists(#status) AND running_until <= :now AND request_digest = :request)";

impl DynamoStore {
    pub(super) async fn claim_key(&self, request: &KeyedRequest, now: DateTime<Utc>) -> StoreResult<Claim> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&KeyedItem::claim(request))?))
            .condition_expression(FREE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":request", s(&request.request_digest))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Claim::Taken),
            Err(err) if is_condition_failed(&err) => err,
            Err(err) => return Err(sdk_error("claim_key", err)),
        };
        let held = match err.into_service_error() {
            PutItemError::ConditionalCheckFailedException(failed) => failed.item,
            _ => None,
        };
        // An emulator may not return the holder: read it (consistently).
        let held = match held {
            Some(item) => Some(item),
            None => {
                self.get(
                    keys::user_pk(request.user_id),
                    &keys::idempotency_sk(&request.key_digest),
                )
                .await?
            }
        };
        match held {
            Some(item) => Ok(Claim::Held(from_item::<KeyedItem>(item)?.into_keyed())),
            // Gone between the put and the read (released): take it again.
            None => Box::pin(self.claim_key(request, now)).await,
        }
    }

    pub(super) async fn finish_key(&self, request: &KeyedRequest, answer: &KeptAnswer) -> StoreResult<()> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(request.user_id),
                keys::idempotency_sk(&request.key_digest),
            )))
            .condition_expression("claim = :claim")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#body", "body")
            .expression_attribute_values(":claim", s(request.claim.to_string()))
            .expression_attribute_values(":status", n(i64::from(answer.status)))
            .expression_attribute_values(":body", s(&answer.body));
        update = match &answer.content_type {
            Some(content_type) => update
                .update_expression("SET #status = :status, #body = :body, content_type = :type")
                .expression_attribute_values(":type", s(content_type)),
            None => update.update_expression("SET #status = :status, #body = :body"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // The claim was taken over: the key answers for another request now.
            Err(err) if is_condition_failed(&err) => Ok(()),
            Err(err) => Err(sdk_error("finish_key", err)),
        }
    }

    pub(super) async fn release_key(&self, request: &KeyedRequest) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(request.user_id),
                keys::idempotency_sk(&request.key_digest),
            )))
            .condition_expression("claim = :claim")
            .expression_attribute_values(":claim", s(request.claim.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Ok(()),
            Err(err) => Err(sdk_error("release_key", err)),
        }
    }
}
