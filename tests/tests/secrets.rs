//! Provider keys from Secrets Manager on the local endpoint (moto): read once and
//! cached, read again on refresh, and never shown in logs, errors or `Debug`.

use aws_sdk_secretsmanager::Client;
use chatbot_core::aws::SharedAws;
use chatbot_core::config::Config;
use chatbot_core::llm::keys::KeyStore;
use chatbot_core::secrets::{key_store, SecretKeys, SecretsError};
use chatbot_tests::dynamodb::{sdk_config, unique_name};
use std::collections::HashMap;

async fn client() -> Client {
    Client::new(&sdk_config().await)
}

async fn create_secret(client: &Client, value: &str) -> String {
    let id = unique_name("chatbot-keys");
    client
        .create_secret()
        .name(&id)
        .secret_string(value)
        .send()
        .await
        .expect("creating a secret on the local endpoint");
    id
}

async fn rotate(client: &Client, id: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .expect("rotating the secret");
}

#[tokio::test]
async fn keys_are_read_once_then_cached_until_a_refresh() {
    let client = client().await;
    let id = create_secret(&client, r#"{"OPENAI_API_KEY": "sk-first"}"#).await;
    let keys = SecretKeys::load(client.clone(), &id).await.unwrap();
    assert_eq!(keys.get("OPENAI_API_KEY").await.as_deref(), Some("sk-first"));
    assert_eq!(keys.get("GEMINI_API_KEY").await, None);
    rotate(
        &client,
        &id,
        r#"{"OPENAI_API_KEY": "sk-second", "GEMINI_API_KEY": "g-1"}"#,
    )
    .await;
    assert_eq!(
        keys.get("OPENAI_API_KEY").await.as_deref(),
        Some("sk-first"),
        "cached: no read per request"
    );
    keys.refresh().await;
    assert_eq!(keys.get("OPENAI_API_KEY").await.as_deref(), Some("sk-second"));
    assert_eq!(keys.get("GEMINI_API_KEY").await.as_deref(), Some("g-1"));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_keys_held() {
    let client = client().await;
    let id = create_secret(&client, r#"{"OPENAI_API_KEY": "sk-kept"}"#).await;
    let keys = SecretKeys::load(client.clone(), &id).await.unwrap();
    rotate(&client, &id, "not json at all").await;
    assert!(matches!(keys.reload().await, Err(SecretsError::NotJson { .. })));
    keys.refresh().await;
    assert_eq!(keys.get("OPENAI_API_KEY").await.as_deref(), Some("sk-kept"));
}

#[tokio::test]
async fn the_configured_secret_is_used_and_one_unreadable_at_first_use_is_read_later() {
    let sdk = sdk_config().await;
    let client = Client::new(&sdk);
    let id = unique_name("chatbot-keys");
    let config = Config::from_vars(HashMap::from([("SECRET_ID".to_string(), id.clone())])).unwrap();
    let keys = key_store(&config, &SharedAws::with(sdk.clone()));
    assert_eq!(
        keys.get("OPENAI_API_KEY").await,
        None,
        "no secret yet: no keys, no crash"
    );
    client
        .create_secret()
        .name(&id)
        .secret_string(r#"{"OPENAI_API_KEY": "sk-late"}"#)
        .send()
        .await
        .unwrap();
    keys.refresh().await;
    assert_eq!(keys.get("OPENAI_API_KEY").await.as_deref(), Some("sk-late"));
    let without = key_store(&Config::defaults(), &SharedAws::with(sdk));
    assert_eq!(
        without.get("CHATBOT_TEST_NO_SUCH_API_KEY").await,
        None,
        "no SECRET_ID: the environment"
    );
}

#[tokio::test]
async fn a_store_made_for_first_use_reads_at_the_first_get_only() {
    let sdk = sdk_config().await;
    let id = create_secret(&Client::new(&sdk), r#"{"OPENAI_API_KEY": "sk-on-use"}"#).await;
    let aws = SharedAws::from_env();
    let keys = SecretKeys::on_first_use(aws.clone(), &id);
    assert!(
        !keys.has_read() && !aws.is_loaded(),
        "made without reading or loading anything"
    );
    let keys = SecretKeys::on_first_use(SharedAws::with(sdk), &id);
    assert!(!keys.has_read());
    assert_eq!(keys.get("OPENAI_API_KEY").await.as_deref(), Some("sk-on-use"));
    assert!(keys.has_read());
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_it() {
    let id = unique_name("chatbot-missing");
    let err = SecretKeys::load(client().await, &id).await.unwrap_err();
    assert!(matches!(err, SecretsError::Read { .. }));
    assert!(err.to_string().contains(&id));
}
