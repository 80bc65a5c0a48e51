//! The local DynamoDB-compatible endpoint (moto, started by `infra/test.sh`) that
//! the DynamoDB suites run against. Without `AWS_ENDPOINT_URL` they fail, never
//! pass silently: CI always sets it.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use chatbot_core::store::dynamodb::{table, DynamoStore};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The local endpoint, or a failure that says how to get one.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: the DynamoDB tests need a local DynamoDB-compatible server. \
             Start one with `python3 -m moto.server -H 127.0.0.1 -p 5000` and set \
             AWS_ENDPOINT_URL=http://127.0.0.1:5000 (infra/test.sh does both)."
        ),
    }
}

/// SDK settings for the local endpoint, with a fixed region and dummy credentials
/// so nothing depends on the machine's AWS setup.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_at(&endpoint()).await
}

/// The same settings for another local endpoint (a fake or a fault proxy).
pub async fn sdk_config_at(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "chatbot-tests"))
        .load()
        .await
}

/// How long the suites let one request to the emulator take: moto serves one
/// request at a time, and a page of megabytes on a loaded machine takes seconds
/// (the fault suite keeps the functions' own default).
pub const EMULATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A name no other test uses, so every test has a table (or secret) of its own.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::now_v7().simple())
}

/// A store on a fresh table, created the way a function creates it on start.
pub async fn fresh_store() -> DynamoStore {
    DynamoStore::connect(&sdk_config().await, &unique_name("chatbot-test"), EMULATOR_TIMEOUT)
        .await
        .expect("creating a table on the local endpoint")
}

/// The DynamoDB operations a client sent (`GetItem`, `Query`…), in order: an SDK
/// interceptor that sees every request, retries included.
#[derive(Clone, Debug, Default)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    /// Empties the log and returns what it held.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let mut operation = operation_of(request);
        if operation == "TransactWriteItems" {
            // `TransactWriteItems(Put,Update)`: IAM checks each part's own action.
            let body: serde_json::Value = request
                .body()
                .bytes()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or_default();
            let parts: Vec<String> = body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_object()?.keys().next().cloned())
                .collect();
            operation = format!("{operation}({})", parts.join(","));
        }
        self.0.lock().unwrap().push(operation);
        Ok(())
    }
}

/// The DynamoDB operation of a request (`GetItem`, `BatchWriteItem`…).
fn operation_of(request: &aws_sdk_dynamodb::config::http::HttpRequest) -> String {
    let target = request.headers().get("x-amz-target").unwrap_or("unknown");
    target.rsplit('.').next().unwrap_or(target).to_string()
}

/// Cuts a store off mid-way, as a function whose time ran out or that crashed:
/// once armed with [`Cut::after`], requests of one operation pass `allowed` times
/// and then fail, until [`Cut::heal`].
#[derive(Clone, Debug, Default)]
pub struct Cut(Arc<Mutex<Option<(String, usize)>>>);

impl Cut {
    pub fn after(&self, operation: &str, allowed: usize) {
        *self.0.lock().unwrap() = Some((operation.to_string(), allowed));
    }

    pub fn heal(&self) {
        *self.0.lock().unwrap() = None;
    }
}

impl aws_sdk_dynamodb::config::Intercept for Cut {
    fn name(&self) -> &'static str {
        "Cut"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let operation = operation_of(context.request());
        match &mut *self.0.lock().unwrap() {
            Some((cut, 0)) if *cut == operation => Err(format!("{operation} cut off").into()),
            Some((cut, allowed)) if *cut == operation => {
                *allowed -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A store on a fresh table that `Cut` can cut off.
pub async fn cuttable_store() -> (DynamoStore, Cut) {
    let cut = Cut::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .interceptor(cut.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let name = unique_name("chatbot-cut");
    table::create_if_missing(&client, &name)
        .await
        .expect("creating a table on the local endpoint");
    (DynamoStore::new(client, name), cut)
}

/// A store on a fresh table whose every request is written to the returned log.
pub async fn logged_store() -> (DynamoStore, RequestLog) {
    let log = RequestLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .interceptor(log.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let name = unique_name("chatbot-count");
    table::create_if_missing(&client, &name)
        .await
        .expect("creating a table on the local endpoint");
    log.take();
    (DynamoStore::new(client, name), log)
}
