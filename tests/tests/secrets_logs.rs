//! Provider keys never reach logs, errors or `Debug` output. A test binary of its
//! own: tracing caches per call site whether anyone listens, process-wide, so a log
//! capture shares its process with no other test.

use aws_sdk_secretsmanager::Client;
use chatbot_core::aws::SharedAws;
use chatbot_core::config::Config;
use chatbot_core::llm::keys::KeyStore;
use chatbot_core::secrets::{key_store, SecretKeys};
use chatbot_tests::dynamodb::{sdk_config, unique_name};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

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

/// Log lines written while the guard lives, at every level, the SDK's included.
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn key_values_never_reach_logs_errors_or_debug_output() {
    let (logs, _guard) = capture_logs();
    let client = Client::new(&sdk_config().await);
    let id = create_secret(&client, r#"{"OPENAI_API_KEY": "sk-live-VALUE-ONE"}"#).await;
    let keys = SecretKeys::load(client.clone(), &id).await.unwrap();
    keys.refresh().await;
    // A secret that is a bare JSON string: a parser's message would quote it.
    client
        .put_secret_value()
        .secret_id(&id)
        .secret_string(r#""sk-live-VALUE-TWO""#)
        .send()
        .await
        .unwrap();
    let err = keys.reload().await.unwrap_err();
    keys.refresh().await;
    let bad_id = create_secret(&client, r#"["sk-live-VALUE-THREE"]"#).await;
    let start_err = SecretKeys::load(client.clone(), &bad_id).await.unwrap_err();
    let config = Config::from_vars(HashMap::from([("SECRET_ID".to_string(), bad_id)])).unwrap();
    let unreadable = key_store(&config, &SharedAws::with(sdk_config().await));
    assert_eq!(unreadable.get("OPENAI_API_KEY").await, None);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("read provider keys"), "the logs were captured: {logs}");
    assert!(logs.contains("OPENAI_API_KEY"), "key names may be logged");
    let shown = [
        logs,
        err.to_string(),
        format!("{err:?}"),
        start_err.to_string(),
        format!("{start_err:?}"),
        format!("{keys:?}"),
    ];
    for text in &shown {
        assert!(!text.contains("sk-live-VALUE"), "a key value shown: {text}");
    }
    assert!(format!("{keys:?}").contains("OPENAI_API_KEY"));
}
