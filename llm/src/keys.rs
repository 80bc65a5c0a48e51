//! Where provider API keys come from. The deployed functions read them from a
//! Secrets Manager secret; a laptop from environment variables. Providers only see
//! this trait, and never log what it returns.

use async_trait::async_trait;
use std::collections::HashMap;

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The key called `name` (e.g. `OPENAI_API_KEY`), from the cached copy; a
    /// store that has not read its keys yet reads them now (so a function that
    /// never calls a model never reads them).
    async fn get(&self, name: &str) -> Option<String>;
    /// Reads the keys again, after a provider rejected one (it may have been rotated).
    async fn refresh(&self);
}

/// Keys from a fixed map: the environment on a laptop, or a test's choice.
pub struct StaticKeys(HashMap<String, String>);

impl StaticKeys {
    pub fn new(keys: HashMap<String, String>) -> Self {
        Self(keys.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect())
    }

    /// The `*_API_KEY` variables of the process environment.
    pub fn from_env() -> Self {
        Self::new(std::env::vars().filter(|(k, _)| k.ends_with("_API_KEY")).collect())
    }
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a key's value must never reach a log.
        f.debug_tuple("StaticKeys")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait]
impl KeyStore for StaticKeys {
    async fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    async fn refresh(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blank_keys_count_as_missing_and_debug_hides_values() {
        let keys = StaticKeys::new(HashMap::from([
            ("OPENAI_API_KEY".to_string(), "sk-secret-value".to_string()),
            ("GEMINI_API_KEY".to_string(), "  ".to_string()),
        ]));
        assert_eq!(keys.get("OPENAI_API_KEY").await.as_deref(), Some("sk-secret-value"));
        assert_eq!(keys.get("GEMINI_API_KEY").await, None);
        assert!(!format!("{keys:?}").contains("sk-secret-value"));
    }
}
