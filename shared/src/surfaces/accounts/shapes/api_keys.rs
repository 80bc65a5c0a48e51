//! Personal API keys (API.md §7): created, listed and revoked by their owner.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::ApiKey;
use crate::time::iso;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, to tell keys apart: 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// A new key. `key` is shown only here: store it now.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub key_id: Uuid,
    pub name: String,
    /// `sk-cb-…`: send as `Authorization: Bearer <key>` to `/v1/*` only.
    pub key: String,
    /// ISO 8601, UTC.
    pub created_at: String,
}

/// A key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub key_id: Uuid,
    pub name: String,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// ISO 8601, UTC; null before its first use.
    pub last_used_at: Option<String>,
    /// Requests it authenticated.
    pub requests: i64,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            key_id: key.id,
            name: key.name.clone(),
            created_at: iso(key.created_at),
            last_used_at: key.last_used_at.map(iso),
            requests: key.requests,
        }
    }
}
