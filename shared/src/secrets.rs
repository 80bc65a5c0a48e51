//! Provider keys from the Secrets Manager secret named by `SECRET_ID` (API.md §3):
//! read once per container when a key is first needed (a function that calls no
//! model never reads it, and is not allowed to), cached, and read again when a
//! provider says a key was refused (it may have been rotated). Without `SECRET_ID`
//! the keys come from the environment (`llm::keys::StaticKeys`).
//!
//! Secrets heal: a key the cache lacks (the read failed, or the secret did not
//! hold it yet: the template creates it empty) is looked for again by a later
//! request that needs it, after a pause that doubles with each miss in a row
//! (1 s, 2 s, 4 s … at most a minute), so an operator who puts the key in the
//! secret sees the next chat succeed without a redeploy, and a missing or
//! forbidden secret is not read on every request.
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
use crate::config::{Config, CursorKey};
use crate::llm::keys::{KeyStore, StaticKeys};

/// The pause after the first miss before a `get` reads again (`refresh` always reads).
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest pause between reads for a key that stays missing.
pub const MAX_RETRY: Duration = Duration::from_secs(60);

/// The pause after a read before a missing key is read for again, after `misses`
/// such misses in a row: `FIRST_RETRY` (also with none: a key just looked for in a
/// fresh read is not read for again at once), doubling, at most `MAX_RETRY`.
pub fn retry_pause(misses: u32) -> Duration {
    let doublings = misses.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

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
    /// When the secret was last read, or a read failed.
    tried_at: Option<Instant>,
    /// Reads in a row that left a wanted key missing (failed, or the secret did not
    /// hold it).
    misses: u32,
}

impl Cache {
    /// Whether a `get` of `name` at `now` must read the secret first: the key is
    /// not held, and the pause after the last miss (see `retry_pause`) is over.
    fn must_read_for(&self, name: &str, now: Instant) -> bool {
        !self.keys.contains_key(name)
            && self
                .tried_at
                .is_none_or(|tried| now.saturating_duration_since(tried) >= retry_pause(self.misses))
    }

    /// Notes the outcome of a read made for `name`.
    fn note_read_for(&mut self, name: &str) {
        if self.keys.contains_key(name) {
            self.misses = 0;
        } else {
            self.misses = self.misses.saturating_add(1);
        }
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

    /// A read made because `name` is not held: one read for a burst of callers.
    async fn read_for(&self, name: &str) {
        let _one_at_a_time = self.reloading.lock().await;
        if !self.cache().must_read_for(name, Instant::now()) {
            // Another caller read it (or just missed) while this one waited.
            return;
        }
        let result = self.read().await;
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.note_read_for(name);
        let retry_in = retry_pause(cache.misses).as_secs();
        drop(cache);
        match result {
            Err(err) => {
                tracing::warn!(error = %err, retry_in, "provider keys unavailable until the secret can be read")
            }
            Ok(()) if !self.cache().keys.contains_key(name) => {
                tracing::warn!(key = name, retry_in, "the provider keys secret does not hold this key")
            }
            Ok(()) => {}
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
        cache.tried_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                cache.keys = keys;
                cache.read_at = Some(Instant::now());
                Ok(())
            }
            Err(err) => Err(err),
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
        if self.cache().must_read_for(name, Instant::now()) {
            self.read_for(name).await;
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

/// The cursor key's secret cannot be read (yet) or holds no usable key: a 503
/// that names nothing internal (see `error`).
#[derive(Debug, thiserror::Error)]
#[error("the cursor key is unavailable")]
pub struct CursorKeyUnavailable;

/// The name of the cursor key in its secret (`{"CURSOR_KEY": "…"}`).
pub const CURSOR_KEY: &str = "CURSOR_KEY";

/// The key pagination cursors are signed with: `CURSOR_KEY` from the
/// environment (or a random one, see `Config`), or, with `CURSOR_KEY_SECRET_ID`,
/// read from that secret when a list is first paged and kept for the container's
/// life (so no function's environment holds it, and only the functions that page
/// read it). A secret that cannot be read yet is looked for again after the
/// pauses of [`SecretKeys`].
pub enum CursorKeys {
    Fixed(CursorKey),
    Secret {
        secret: Box<SecretKeys>,
        key: tokio::sync::OnceCell<CursorKey>,
    },
}

impl CursorKeys {
    /// The source `config` names: its `CURSOR_KEY`, or the secret.
    pub fn from_config(config: &Config, aws: &SharedAws) -> Self {
        match &config.cursor_key_secret_id {
            Some(secret_id) => Self::from_secret(SecretKeys::on_first_use(aws.clone(), secret_id.clone())),
            None => Self::Fixed(config.cursor_key.clone()),
        }
    }

    pub fn from_secret(secret: SecretKeys) -> Self {
        Self::Secret {
            secret: Box::new(secret),
            key: tokio::sync::OnceCell::new(),
        }
    }

    /// The key, or `CursorKeyUnavailable` while the secret cannot be read or
    /// holds no usable key (the log says which secret and why).
    pub async fn get(&self) -> Result<&CursorKey, CursorKeyUnavailable> {
        let (secret, key) = match self {
            Self::Fixed(key) => return Ok(key),
            Self::Secret { secret, key } => (secret, key),
        };
        key.get_or_try_init(|| async {
            match secret.get(CURSOR_KEY).await {
                Some(value) if value.len() >= 32 => Ok(CursorKey::new(value.into_bytes())),
                found => {
                    tracing::error!(
                        secret_id = %secret.secret_id,
                        key = CURSOR_KEY,
                        problem = if found.is_some() { "shorter than 32 characters" } else { "missing or unreadable" },
                        "the cursor key secret is not usable"
                    );
                    Err(CursorKeyUnavailable)
                }
            }
        })
        .await
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
    fn a_missing_key_is_read_for_again_after_a_pause_that_doubles() {
        let start = Instant::now();
        let key = "OPENAI_API_KEY";
        let mut cache = Cache::default();
        assert!(cache.must_read_for(key, start), "never read: read now");
        // The read failed (or the secret lacked the key): not at once, but after 1 s.
        cache.tried_at = Some(start);
        cache.note_read_for(key);
        assert!(!cache.must_read_for(key, start));
        assert!(!cache.must_read_for(key, start + FIRST_RETRY / 2));
        assert!(cache.must_read_for(key, start + FIRST_RETRY));
        // Missed again: 2 s, then 4 s, … at most a minute.
        let second = start + FIRST_RETRY;
        cache.tried_at = Some(second);
        cache.note_read_for(key);
        assert!(!cache.must_read_for(key, second + FIRST_RETRY));
        assert!(cache.must_read_for(key, second + FIRST_RETRY * 2));
        assert_eq!(retry_pause(3), FIRST_RETRY * 4);
        assert_eq!(retry_pause(50), MAX_RETRY);
        // Found: a held key is never read for, and the pause starts over.
        cache.keys.insert(key.into(), "sk-1".into());
        cache.note_read_for(key);
        assert_eq!(cache.misses, 0);
        assert!(!cache.must_read_for(key, second + MAX_RETRY * 10), "held: cached");
        // Another key, missing from that fresh read, is looked for after the pause.
        assert!(!cache.must_read_for("GEMINI_API_KEY", second));
        assert!(cache.must_read_for("GEMINI_API_KEY", second + FIRST_RETRY));
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
