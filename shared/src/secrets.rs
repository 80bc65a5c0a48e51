//! Provider keys from the Secrets Manager secret named by `SECRET_ID` (API.md §3):
//! read once per container, cached, and read again when a provider says a key was
//! refused (it may have been rotated). Without `SECRET_ID` the keys come from the
//! environment (`llm::keys::StaticKeys`).
//!
//! A key's value is never logged nor put in an error: errors name the secret and
//! what was wrong with it, and `Debug` shows key names only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use tracing::Instrument as _;

use crate::config::Config;
use crate::llm::keys::{KeyStore, StaticKeys};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The service's own error (access denied, not found, unreachable…), which
    /// never carries the secret's value.
    #[error("reading secret {secret_id}: {cause}")]
    Read { secret_id: String, cause: String },
    #[error("secret {secret_id} has no text value")]
    NotText { secret_id: String },
    /// Deliberately without the parser's message, which can quote the value.
    #[error("secret {secret_id} is not a JSON object of key names to values")]
    NotJson { secret_id: String },
}

/// Keys read from one secret, shared by every request of the container.
pub struct SecretKeys {
    client: Client,
    secret_id: String,
    cache: RwLock<Cache>,
    /// One read at a time: a burst of refused keys triggers one reload, not many.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, String>,
    /// When the keys now held were read (`None`: never).
    read_at: Option<Instant>,
}

impl SecretKeys {
    /// Reads the secret now: what the first request needs is then already cached.
    pub async fn load(client: Client, secret_id: impl Into<String>) -> Result<Self, SecretsError> {
        let keys = Self::unloaded(client, secret_id);
        keys.reload().await?;
        Ok(keys)
    }

    /// A store that has read nothing yet; `refresh` (or `reload`) fills it.
    pub fn unloaded(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            cache: RwLock::new(Cache::default()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the secret again and replaces the cached keys; on failure the keys
    /// held so far stay.
    pub async fn reload(&self) -> Result<(), SecretsError> {
        let asked = Instant::now();
        let _one_at_a_time = self.reloading.lock().await;
        if self.read_at().is_some_and(|read| read > asked) {
            // Another caller read it while this one waited.
            return Ok(());
        }
        let keys = self
            .fetch()
            .instrument(tracing::info_span!("secrets", secret_id = %self.secret_id))
            .await?;
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *cache = Cache {
            keys,
            read_at: Some(Instant::now()),
        };
        Ok(())
    }

    fn read_at(&self) -> Option<Instant> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).read_at
    }

    async fn fetch(&self) -> Result<HashMap<String, String>, SecretsError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|err| SecretsError::Read {
                secret_id: self.secret_id.clone(),
                cause: DisplayErrorContext(&err).to_string(),
            })?;
        let text = answer.secret_string().ok_or_else(|| SecretsError::NotText {
            secret_id: self.secret_id.clone(),
        })?;
        let keys = parse(text).ok_or_else(|| SecretsError::NotJson {
            secret_id: self.secret_id.clone(),
        })?;
        tracing::info!(keys = ?keys.keys().collect::<Vec<_>>(), "read provider keys");
        Ok(keys)
    }
}

/// `{"OPENAI_API_KEY": "…", …}`: string values kept, blank ones dropped (a blank
/// key is a missing key), anything else ignored.
fn parse(text: &str) -> Option<HashMap<String, String>> {
    let object: HashMap<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    Some(
        object
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(v) if !v.trim().is_empty() => Some((name, v)),
                _ => None,
            })
            .collect(),
    )
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = cache.keys.keys().collect();
        names.sort();
        f.debug_struct("SecretKeys")
            .field("secret_id", &self.secret_id)
            .field("keys", &names)
            .finish()
    }
}

#[async_trait]
impl KeyStore for SecretKeys {
    fn get(&self, name: &str) -> Option<String> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .get(name)
            .cloned()
    }

    async fn refresh(&self) {
        if let Err(err) = self.reload().await {
            tracing::warn!(error = %err, "could not read the provider keys again; keeping the ones held");
        }
    }
}

/// The keys a function runs with: the secret when `SECRET_ID` is set, else the
/// environment. A secret that cannot be read at start is logged and leaves the
/// keys empty (providers then answer 503 naming the missing key) rather than
/// stopping the container: functions that call no model are not allowed to read it.
pub async fn key_store(config: &Config, aws: Option<&aws_config::SdkConfig>) -> Arc<dyn KeyStore> {
    let (Some(secret_id), Some(aws)) = (&config.secret_id, aws) else {
        return Arc::new(StaticKeys::from_env());
    };
    let client = Client::new(aws);
    match SecretKeys::load(client.clone(), secret_id.clone()).await {
        Ok(keys) => Arc::new(keys),
        Err(err) => {
            tracing::warn!(error = %err, "provider keys unavailable until the secret can be read");
            Arc::new(SecretKeys::unloaded(client, secret_id.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_json_objects_of_non_blank_strings() {
        let keys = parse(r#"{"OPENAI_API_KEY": "sk-1", "GEMINI_API_KEY": " ", "PORT": 5}"#).unwrap();
        assert_eq!(
            keys,
            HashMap::from([("OPENAI_API_KEY".to_string(), "sk-1".to_string())])
        );
        assert!(parse(r#""sk-live-only-a-string""#).is_none());
        assert!(parse("sk-live-not-json").is_none());
        assert!(parse("[]").is_none());
    }

    #[test]
    fn errors_name_the_secret_never_a_value() {
        let err = SecretsError::NotJson {
            secret_id: "chatbot/keys".into(),
        };
        assert_eq!(
            err.to_string(),
            "secret chatbot/keys is not a JSON object of key names to values"
        );
    }
}
