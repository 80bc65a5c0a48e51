//! What a function builds once per container and reuses for every invocation.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::accounts::AccountSettings;
use crate::aws::SharedAws;
use crate::config::Config;
use crate::conversation::{Conversations, ReplySettings};
use crate::llm::flan_t5;
use crate::llm::invoke::RemoteFlanT5;
use crate::llm::keys::{KeyStore, StaticKeys};
use crate::llm::remote::{gemini::Gemini, ollama::Ollama, openai::OpenAi};
use crate::llm::{Dispatch, Provider};
use crate::secrets::CursorKeys;
use crate::store::{Accounts, ApiKeys, Balances, Chats, IfMissing, Limits, Messages, Shares, Store, Tokens, UsageLog};

pub use crate::conversation::Clock;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub llm: Dispatch,
    /// Provider keys: the Secrets Manager secret (`SECRET_ID`) or the environment.
    pub keys: Arc<dyn KeyStore>,
    /// The pagination cursors' key: `CURSOR_KEY`, or its secret.
    pub cursor_keys: Arc<CursorKeys>,
    clock: Clock,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, llm: Dispatch) -> Self {
        Self {
            cursor_keys: Arc::new(CursorKeys::Fixed(config.cursor_key.clone())),
            config: Arc::new(config),
            store,
            llm,
            keys: Arc::new(StaticKeys::new(Default::default())),
            clock: Arc::new(Utc::now),
        }
    }

    /// Sets where provider keys come from (`secrets::key_store`).
    pub fn with_keys(mut self, keys: Arc<dyn KeyStore>) -> Self {
        self.keys = keys;
        self
    }

    /// Sets where the cursor key comes from (`CursorKeys::from_config`).
    pub fn with_cursor_keys(mut self, cursor_keys: CursorKeys) -> Self {
        self.cursor_keys = Arc::new(cursor_keys);
        self
    }

    /// Replaces the wall clock, so tests can place records on chosen days.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// What the conversation operations are lent: the store's roles they use, the
    /// clock and the reply settings.
    pub fn conversations(&self) -> Conversations {
        let config = &self.config;
        Conversations {
            accounts: self.store.clone(),
            chats: self.store.clone(),
            messages: self.store.clone(),
            balances: self.store.clone(),
            clock: self.clock.clone(),
            settings: ReplySettings {
                tokens_per_request: config.tokens_per_request,
                pending_charge_secs: config.pending_charge_secs,
                context_messages: config.context_messages,
                max_reply_tokens: config.max_reply_tokens,
                provider_timeout_secs: config.provider_timeout_secs,
            },
        }
    }

    /// The chats alone, for the operations that need no other role.
    pub fn chats(&self) -> &dyn Chats {
        self.store.as_ref()
    }

    /// The balances and holds alone.
    pub fn balances(&self) -> &dyn Balances {
        self.store.as_ref()
    }

    /// The usage log alone.
    pub fn usage_log(&self) -> &dyn UsageLog {
        self.store.as_ref()
    }

    /// The share links alone.
    pub fn shares(&self) -> &dyn Shares {
        self.store.as_ref()
    }

    /// The messages alone.
    pub fn messages(&self) -> &dyn Messages {
        self.store.as_ref()
    }

    /// The accounts alone.
    pub fn accounts(&self) -> &dyn Accounts {
        self.store.as_ref()
    }

    /// The sign-in tokens alone.
    pub fn tokens(&self) -> &dyn Tokens {
        self.store.as_ref()
    }

    /// The personal API keys alone.
    pub fn api_keys(&self) -> &dyn ApiKeys {
        self.store.as_ref()
    }

    /// The rate-limit windows alone.
    pub fn limits(&self) -> &dyn Limits {
        self.store.as_ref()
    }

    /// What the account operations follow.
    pub fn account_settings(&self) -> AccountSettings {
        AccountSettings {
            initial_tokens: self.config.initial_tokens,
            token_ttl: chrono::Duration::days(self.config.token_ttl_days),
            auth_rate_limit_per_minute: self.config.auth_rate_limit_per_minute,
        }
    }

    /// Builds the state a deployed or local function runs with. Only the store is
    /// opened now; the AWS settings, the provider keys, HTTP and Lambda clients are
    /// made when a route first needs them, and no model weights are ever loaded
    /// here (Flan-T5 answers in the inference function).
    pub async fn from_config(config: Config) -> anyhow::Result<Self> {
        Self::from_config_with(config, SharedAws::from_env()).await
    }

    /// `from_config` with the AWS settings given (tests point them at a local
    /// endpoint); they are still loaded only when something uses them.
    pub async fn from_config_with(config: Config, aws: SharedAws) -> anyhow::Result<Self> {
        let store = crate::store::open(&config, &aws, IfMissing::Create).await?;
        let keys = crate::secrets::key_store(&config, &aws);
        let cursor_keys = CursorKeys::from_config(&config, &aws);
        let llm = Dispatch::new(
            default_providers(&config, &keys, &aws),
            &config.default_provider,
            &config.default_model,
        );
        Ok(Self::new(config, store, llm)
            .with_keys(keys)
            .with_cursor_keys(cursor_keys))
    }
}

/// Every provider the deployment offers; the ones without keys or weights are
/// listed as unavailable. Building them reads nothing and connects to nothing.
fn default_providers(config: &Config, keys: &Arc<dyn KeyStore>, aws: &SharedAws) -> Vec<Arc<dyn Provider>> {
    let timeout = std::time::Duration::from_secs(config.provider_timeout_secs);
    let flan: Arc<dyn Provider> = match &config.inference_function {
        Some(function) => Arc::new(RemoteFlanT5::new(
            aws.clone(),
            function,
            &config.flan_t5.checkpoint,
            timeout,
        )),
        None => Arc::new(flan_t5::not_configured(config.flan_t5.dir.is_some())),
    };
    vec![
        flan,
        Arc::new(OpenAi::new(
            &config.openai_base_url,
            config.openai_models.clone(),
            keys.clone(),
            timeout,
        )),
        Arc::new(Gemini::new(
            &config.gemini_base_url,
            config.gemini_models.clone(),
            keys.clone(),
            timeout,
        )),
        Arc::new(Ollama::new(
            config.ollama_host.clone(),
            config.ollama_models.clone(),
            timeout,
        )),
    ]
}
