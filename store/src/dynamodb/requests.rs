//! What every operation of the store needs around the SDK: error mapping, queries
//! that follow `LastEvaluatedKey`, batched deletes that retry unprocessed items,
//! update expressions, and reading a cancelled transaction's reasons.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::items::Item;
use super::keys::{PK, SK};
use crate::{StoreError, StoreResult};

/// BatchWriteItem takes at most 25 requests.
pub const BATCH_SIZE: usize = 25;
/// Unprocessed items are sent again this many times, with a doubling pause, before
/// the delete fails (and can be retried whole: deleting is idempotent).
const BATCH_ATTEMPTS: u32 = 6;
const FIRST_PAUSE: Duration = Duration::from_millis(20);

/// An SDK failure as a store error; its text goes to the log only. A failure that
/// may pass — no connection, no answer in time, throttling, a transaction that met
/// another, DynamoDB's own 5xx — is `Unavailable` (the client is told when to
/// retry); anything else is a bug.
pub fn sdk_error<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let text = format!("DynamoDB {op}: {}", DisplayErrorContext(&err));
    if is_transient(&err) {
        StoreError::Unavailable(text)
    } else {
        StoreError::Internal(anyhow::anyhow!(text))
    }
}

/// Error codes DynamoDB answers when trying again later can succeed.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        _ => false,
    }
}

pub fn internal(message: impl Into<String>) -> StoreError {
    StoreError::Internal(anyhow::anyhow!(message.into()))
}

pub fn is_condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException"))
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// The table key of an item read back from a query.
pub fn key_of(item: &Item) -> StoreResult<Item> {
    match (item.get(PK), item.get(SK)) {
        (Some(pk), Some(sk)) => Ok(HashMap::from([
            (PK.to_string(), pk.clone()),
            (SK.to_string(), sk.clone()),
        ])),
        _ => Err(internal("an item without its key")),
    }
}

/// Every item a query matches, following `LastEvaluatedKey` page after page (one
/// request per page of up to 1 MB).
pub async fn query_all(query: QueryFluentBuilder) -> StoreResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("query", e))?;
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Deletes every key, 25 to a BatchWriteItem request.
pub async fn delete_keys(client: &Client, table: &str, keys: Vec<Item>) -> StoreResult<()> {
    let requests = keys
        .into_iter()
        .map(|key| {
            let delete = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(|e| internal(format!("a delete request: {e}")))?;
            Ok(WriteRequest::builder().delete_request(delete).build())
        })
        .collect::<StoreResult<Vec<_>>>()?;
    write_batches(client, table, requests).await
}

/// Puts every item (new ones: a put replaces), 25 to a BatchWriteItem request.
pub async fn put_items(client: &Client, table: &str, items: Vec<Item>) -> StoreResult<()> {
    let requests = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| internal(format!("a put request: {e}")))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<StoreResult<Vec<_>>>()?;
    write_batches(client, table, requests).await
}

async fn write_batches(client: &Client, table: &str, mut requests: Vec<WriteRequest>) -> StoreResult<()> {
    while !requests.is_empty() {
        let rest = requests.split_off(requests.len().min(BATCH_SIZE));
        write_until_processed(requests, |batch| async move {
            let answer = client
                .batch_write_item()
                .request_items(table, batch)
                .send()
                .await
                .map_err(|e| sdk_error("batch_write_item", e))?;
            Ok(answer
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default())
        })
        .await?;
        requests = rest;
    }
    Ok(())
}

/// Sends `requests` and then whatever DynamoDB leaves unprocessed (it may, under
/// throttling, without failing the call), pausing longer each time.
pub async fn write_until_processed<F, Fut>(mut requests: Vec<WriteRequest>, mut send: F) -> StoreResult<()>
where
    F: FnMut(Vec<WriteRequest>) -> Fut,
    Fut: Future<Output = StoreResult<Vec<WriteRequest>>>,
{
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=BATCH_ATTEMPTS {
        requests = send(requests).await?;
        if requests.is_empty() {
            return Ok(());
        }
        tracing::warn!(attempt, left = requests.len(), "DynamoDB left batch items unprocessed");
        if attempt < BATCH_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Err(internal(format!(
        "{} batch items still unprocessed after {BATCH_ATTEMPTS} attempts",
        requests.len()
    )))
}

/// Why each action of a cancelled transaction failed, in the order they were sent
/// (`None` for an action that did not fail). `None` overall: not a cancellation.
pub fn cancellation_reasons<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<Option<String>>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().filter(|c| *c != "None").map(String::from))
                .collect(),
        ),
        _ => None,
    }
}

/// What a cancelled transaction means for the store.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The condition of the action at this index failed.
    Condition(usize),
    /// Another transaction touched the same items at the same moment: try again.
    Contention,
    /// DynamoDB refused an action for now (throttling): try again later.
    Throttled,
    Other,
}

pub fn classify(reasons: &[Option<String>]) -> Cancelled {
    if let Some(index) = reasons
        .iter()
        .position(|r| r.as_deref() == Some("ConditionalCheckFailed"))
    {
        return Cancelled::Condition(index);
    }
    if reasons.iter().any(|r| r.as_deref() == Some("TransactionConflict")) {
        return Cancelled::Contention;
    }
    if reasons.iter().any(|r| {
        matches!(
            r.as_deref(),
            Some("ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded")
        )
    }) {
        return Cancelled::Throttled;
    }
    Cancelled::Other
}

/// Attempts of a transaction that lost to a concurrent one before giving up.
pub const TRANSACTION_ATTEMPTS: u32 = 3;

/// An update expression with SET and REMOVE clauses; every attribute goes through a
/// `#name` placeholder, so reserved words never matter.
#[derive(Clone, Debug, Default)]
pub struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, attribute: &str, value: AttributeValue) -> Self {
        self.set.push(format!("#{attribute} = :{attribute}"));
        self.names.insert(format!("#{attribute}"), attribute.to_string());
        self.values.insert(format!(":{attribute}"), value);
        self
    }

    /// Sets the attribute, or removes it when there is no value (absent, not NULL,
    /// so sparse index keys leave their index).
    pub fn set_or_remove(self, attribute: &str, value: Option<AttributeValue>) -> Self {
        match value {
            Some(value) => self.set(attribute, value),
            None => self.remove(attribute),
        }
    }

    pub fn remove(mut self, attribute: &str) -> Self {
        self.remove.push(format!("#{attribute}"));
        self.names.insert(format!("#{attribute}"), attribute.to_string());
        self
    }

    /// A name placeholder for a condition.
    pub fn name(mut self, attribute: &str) -> Self {
        self.names.insert(format!("#{attribute}"), attribute.to_string());
        self
    }

    /// A value placeholder for a condition.
    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_string(), value);
        self
    }

    /// True when the update would change nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    pub fn expression(&self) -> String {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        clauses.join(" ")
    }

    /// The values map, or `None` when empty (DynamoDB rejects an empty map).
    pub fn values_or_none(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn requests(count: usize) -> Vec<WriteRequest> {
        (0..count)
            .map(|i| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key(format!("P#{i}"), "S")))
                    .build()
                    .unwrap();
                WriteRequest::builder().delete_request(delete).build()
            })
            .collect()
    }

    #[tokio::test]
    async fn unprocessed_items_are_sent_again_until_none_are_left() {
        let calls = AtomicUsize::new(0);
        let sizes = std::sync::Mutex::new(Vec::new());
        write_until_processed(requests(5), |batch| {
            calls.fetch_add(1, Ordering::SeqCst);
            sizes.lock().unwrap().push(batch.len());
            // DynamoDB processes all but two, then all but one, then everything.
            let keep = batch.len().saturating_sub(if batch.len() == 5 { 3 } else { 1 });
            async move { Ok(batch.into_iter().take(keep).collect()) }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(*sizes.lock().unwrap(), vec![5, 2, 1]);
    }

    #[tokio::test]
    async fn items_never_processed_fail_the_delete_after_the_last_attempt() {
        let calls = AtomicUsize::new(0);
        let err = write_until_processed(requests(2), |batch| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(batch) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), BATCH_ATTEMPTS as usize);
        assert!(err.to_string().contains("2 batch items still unprocessed"));
    }

    #[tokio::test]
    async fn a_failed_batch_request_fails_at_once() {
        let calls = AtomicUsize::new(0);
        let result = write_until_processed(requests(1), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(internal("throttled")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cancellations_name_the_failed_condition_or_contention() {
        let code = |c: &str| Some(c.to_string());
        assert_eq!(
            classify(&[None, code("ConditionalCheckFailed"), None]),
            Cancelled::Condition(1)
        );
        assert_eq!(classify(&[code("TransactionConflict"), None]), Cancelled::Contention);
        assert_eq!(
            classify(&[code("TransactionConflict"), code("ConditionalCheckFailed")]),
            Cancelled::Condition(1),
            "a failed condition decides even when another action conflicted"
        );
        assert_eq!(classify(&[code("ThrottlingError")]), Cancelled::Throttled);
        assert_eq!(
            classify(&[None, code("ProvisionedThroughputExceeded")]),
            Cancelled::Throttled
        );
        assert_eq!(classify(&[code("ValidationError")]), Cancelled::Other);
        assert_eq!(classify(&[]), Cancelled::Other);
    }

    #[test]
    fn update_expressions_set_and_remove_through_placeholders() {
        let update = Update::new()
            .set("content", s("hi"))
            .set_or_remove("edited_at", None)
            .set_or_remove("time_key", Some(s("k")));
        assert_eq!(
            update.expression(),
            "SET #content = :content, #time_key = :time_key REMOVE #edited_at"
        );
        assert_eq!(update.names["#edited_at"], "edited_at");
        assert_eq!(update.values.len(), 2);
        assert!(Update::new().remove("a").values_or_none().is_none());
        assert!(key_of(&HashMap::new()).is_err());
    }
}
