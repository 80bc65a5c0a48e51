//! What a function builds once per container and reuses for every invocation.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::config::{Config, StoreKind};
use crate::llm::flan_t5::FlanT5Unavailable;
use crate::llm::{Dispatch, Provider};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub llm: Dispatch,
    clock: Clock,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, llm: Dispatch) -> Self {
        Self {
            config: Arc::new(config),
            store,
            llm,
            clock: Arc::new(Utc::now),
        }
    }

    /// Replaces the wall clock, so tests can place records on chosen days.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Builds the state a deployed or local function runs with.
    pub async fn from_config(config: Config) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> = match config.store {
            StoreKind::Sqlite => Arc::new(SqliteStore::open(&config.sqlite_path)?),
            StoreKind::DynamoDb => {
                anyhow::bail!("STORE=dynamodb is not available in this build yet; use STORE=sqlite")
            }
        };
        let llm = Dispatch::new(
            default_providers(&config),
            &config.default_provider,
            &config.default_model,
        );
        Ok(Self::new(config, store, llm))
    }
}

fn default_providers(config: &Config) -> Vec<Arc<dyn Provider>> {
    let reason = match &config.flan_t5_dir {
        Some(dir) => format!(
            "Flan-T5 cannot run in this build yet (weights configured at {}); choose another provider.",
            dir.display()
        ),
        None => "Flan-T5 weights are not installed: set FLAN_T5_DIR to a folder with config.json, tokenizer.json and model.safetensors.".to_string(),
    };
    vec![Arc::new(FlanT5Unavailable::new(reason))]
}
