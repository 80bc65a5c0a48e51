use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct TokensView {
    /// The balance left.
    pub tokens: i64,
    pub spent: i64,
    /// Charged requests so far.
    pub requests: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    /// `provider/model`, as `/v1/chat/completions` takes it.
    pub id: String,
    pub provider: String,
    pub model: String,
    /// What a request without `provider`/`model` uses.
    pub default: bool,
    /// False where no key or weights are configured.
    pub available: bool,
    /// Why it is unavailable, saying what the server needs set; `null` when available.
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    pub status: String,
    pub store: String,
    pub version: String,
}
