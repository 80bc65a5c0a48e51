//! What a function builds once per container and reuses for every invocation.

use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

use crate::accounts::AccountSettings;
use crate::aws::SharedAws;
use crate::config::Config;
use crate::conversation::{Conversations, ReplySettings};
use crate::llm::flan_t5;
use crate::llm::invoke::RemoteFlanT5;
use crate::llm::keys::KeyStore;
use crate::llm::remote::{gemini::Gemini, ollama::Ollama, openai::OpenAi};
use crate::llm::{Dispatch, Provider};
use crate::secrets::CursorKeys;
use crate::store::{Accounts, ApiKeys, Balances, Chats, IfMissing, Limits, Messages, Shares, Store, Tokens, UsageLog};

pub use crate::conversation::Clock;

/// The model providers and the cursor key are made when a route first asks for
/// them, and only there (`llm`, `cursor_keys`): a function whose routes choose no
/// model and page through nothing never references the provider clients (reqwest,
/// Lambda Invoke) nor Secrets Manager, so its binary does not link them
/// (docs/architecture.md, "Why one crate per function").
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    llm: Arc<OnceLock<Dispatch>>,
    cursor_keys: Arc<OnceLock<CursorKeys>>,
    aws: SharedAws,
    clock: Clock,
}

impl AppState {
    /// A state with the providers given and the cursor key of `config` (tests).
    pub fn new(config: Config, store: Arc<dyn Store>, llm: Dispatch) -> Self {
        let cursor_keys = CursorKeys::Fixed(config.cursor_key.clone());
        Self {
            cursor_keys: Arc::new(OnceLock::from(cursor_keys)),
            ..Self::wired_on_first_use(config, store, SharedAws::from_env())
        }
        .with_llm(llm)
    }

    /// A state whose providers and cursor key are made from `config` and `aws`
    /// when first asked for.
    fn wired_on_first_use(config: Config, store: Arc<dyn Store>, aws: SharedAws) -> Self {
        Self {
            config: Arc::new(config),
            store,
            llm: Arc::default(),
            cursor_keys: Arc::default(),
            aws,
            clock: Arc::new(Utc::now),
        }
    }

    /// Replaces the model providers.
    pub fn with_llm(mut self, llm: Dispatch) -> Self {
        self.llm = Arc::new(OnceLock::from(llm));
        self
    }

    /// The model providers: every one the deployment offers, with its keys from
    /// the secret (`SECRET_ID`) or the environment. Building them reads nothing
    /// and connects to nothing.
    pub fn llm(&self) -> &Dispatch {
        self.llm.get_or_init(|| {
            let keys = crate::secrets::key_store(&self.config, &self.aws);
            let providers = default_providers(&self.config, &keys, &self.aws);
            Dispatch::new(providers, &self.config.default_provider, &self.config.default_model)
        })
    }

    /// Where the pagination cursors' key comes from: `CURSOR_KEY`, or its secret.
    pub fn cursor_keys(&self) -> &CursorKeys {
        self.cursor_keys
            .get_or_init(|| CursorKeys::from_config(&self.config, &self.aws))
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
        Ok(Self::wired_on_first_use(config, store, aws))
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
