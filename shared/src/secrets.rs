//! Provider keys from the Secrets Manager secret named by `SECRET_ID` (API.md §3):
//! read once per container when a key is first needed (a function that calls no
//! model never reads it, and is not allowed to), cached, and read again when a
//! provider says a key was refused (it may have been rotated). Without `SECRET_ID`
//! the keys come from the environment (`llm::keys::StaticKeys`).
//!
//! A key's value is never logged nor put in an error: errors name the secret and
//! what was wrong with it, and `Debug` shows key names only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use tracing::Instrument as _;

use crate::aws::{LazyClient, SharedAws};
use crate::config::Config;
use crate::llm::keys::{KeyStore, StaticKeys};

/// After a failed read, how long a `get` waits before trying again while no keys
/// have ever been read (`refresh` always reads).
pub const UNREAD_RETRY: Duration = Duration::from_secs(30);

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
    client: LazyClient<Client>,
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
    /// When the last read failed.
    failed_at: Option<Instant>,
}

impl Cache {
    /// Whether a `get` at `now` must read the secret first: nothing has been read
    /// yet, and no read failed within `UNREAD_RETRY` (a missing or forbidden
    /// secret is not asked for on every request).
    fn needs_first_read(&self, now: Instant) -> bool {
        self.read_at.is_none()
            && self
                .failed_at
                .is_none_or(|failed| now.saturating_duration_since(failed) >= UNREAD_RETRY)
    }
}

impl SecretKeys {
    /// Reads the secret now: what the first request needs is then already cached.
    pub async fn load(client: Client, secret_id: impl Into<String>) -> Result<Self, SecretsError> {
        let keys = Self::unloaded(client, secret_id);
        keys.reload().await?;
        Ok(keys)
    }

    /// A store that has read nothing yet; the first `get` (or a `refresh`) reads.
    pub fn unloaded(client: Client, secret_id: impl Into<String>) -> Self {
        Self::with_client(LazyClient::ready(client), secret_id.into())
    }

    /// A store that builds its client from `aws` and reads the secret when a key
    /// is first asked for: building it costs nothing at start.
    pub fn on_first_use(aws: SharedAws, secret_id: impl Into<String>) -> Self {
        Self::with_client(LazyClient::new(aws, Client::new), secret_id.into())
    }

    fn with_client(client: LazyClient<Client>, secret_id: String) -> Self {
        Self {
            client,
            secret_id,
            cache: RwLock::new(Cache::default()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the secret has been read successfully.
    pub fn has_read(&self) -> bool {
        self.read_at().is_some()
    }

    /// The first read, made by the first `get`: one read for a burst of callers.
    async fn read_first(&self) {
        let _one_at_a_time = self.reloading.lock().await;
        if !self.cache().needs_first_read(Instant::now()) {
            // Another caller read it (or just failed to) while this one waited.
            return;
        }
        if let Err(err) = self.read().await {
            tracing::warn!(error = %err, "provider keys unavailable until the secret can be read");
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
        self.read().await
    }

    /// Reads the secret (the caller holds `reloading`).
    async fn read(&self) -> Result<(), SecretsError> {
        let fetched = self
            .fetch()
            .instrument(tracing::info_span!("secrets", secret_id = %self.secret_id))
            .await;
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match fetched {
            Ok(keys) => {
                *cache = Cache {
                    keys,
                    read_at: Some(Instant::now()),
                    failed_at: None,
                };
                Ok(())
            }
            Err(err) => {
                cache.failed_at = Some(Instant::now());
                Err(err)
            }
        }
    }

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn read_at(&self) -> Option<Instant> {
        self.cache().read_at
    }

    async fn fetch(&self) -> Result<HashMap<String, String>, SecretsError> {
        let answer = self
            .client
            .get()
            .await
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
    async fn get(&self, name: &str) -> Option<String> {
        if self.cache().needs_first_read(Instant::now()) {
            self.read_first().await;
        }
        self.cache().keys.get(name).cloned()
    }

    async fn refresh(&self) {
        if let Err(err) = self.reload().await {
            tracing::warn!(error = %err, "could not read the provider keys again; keeping the ones held");
        }
    }
}

/// The keys a function runs with: the secret when `SECRET_ID` is set, else the
/// environment. Nothing is read here: the secret is read when a key is first
/// asked for, which only a model call (or the model list) does, so functions
/// that call no model never read it (they are not allowed to). A secret that
/// cannot be read is logged and leaves the keys empty (providers then answer 503
/// naming the missing key) rather than failing the request's function.
pub fn key_store(config: &Config, aws: &SharedAws) -> Arc<dyn KeyStore> {
    match &config.secret_id {
        Some(secret_id) => Arc::new(SecretKeys::on_first_use(aws.clone(), secret_id.clone())),
        None => Arc::new(StaticKeys::from_env()),
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
    fn the_first_get_reads_and_a_failed_read_is_retried_after_a_pause() {
        let start = Instant::now();
        let unread = Cache::default();
        assert!(unread.needs_first_read(start));
        let read = Cache {
            read_at: Some(start),
            ..Cache::default()
        };
        assert!(!read.needs_first_read(start + UNREAD_RETRY * 10), "read once: cached");
        let failed = Cache {
            failed_at: Some(start),
            ..Cache::default()
        };
        assert!(!failed.needs_first_read(start));
        assert!(!failed.needs_first_read(start + UNREAD_RETRY / 2));
        assert!(failed.needs_first_read(start + UNREAD_RETRY));
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
