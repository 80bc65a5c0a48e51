//! `/api/keys/`: personal API keys for programmatic use of `/v1/*` (API.md §7).
//! A key is shown once, when created; the store keeps its digest.

use uuid::Uuid;

use crate::api::api_keys::{ApiKeyView, CreateApiKeyRequest, CreatedApiKey};
use crate::api::Notice;
use crate::auth::{token, API_KEY_PREFIX};
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Reply;
use crate::store::ApiKey;
use crate::time::iso;

/// The most keys a user may hold: enough for every machine and tool, few enough
/// that a leaked session cannot mint keys without end.
pub const MAX_API_KEYS: usize = 20;
/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// `POST /api/keys/` `{name}` → 201 with the key, shown this once.
pub async fn create_key(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let request: CreateApiKeyRequest = call.json()?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid_field(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters."),
        ));
    }
    let store = &call.state.store;
    if store.api_keys_of(user.id).await?.len() >= MAX_API_KEYS {
        return Err(ApiError::conflict(
            "too_many_api_keys",
            format!("An account holds at most {MAX_API_KEYS} API keys: revoke one first."),
        ));
    }
    let secret = format!("{API_KEY_PREFIX}{}", token::generate());
    let key = ApiKey {
        id: Uuid::now_v7(),
        user_id: user.id,
        name: name.to_string(),
        digest: token::digest(&secret),
        created_at: call.now,
        last_used_at: None,
        requests: 0,
    };
    store.create_api_key(&key).await?;
    Reply::created(CreatedApiKey {
        key_id: key.id,
        name: key.name,
        key: secret,
        created_at: iso(key.created_at),
    })
}

/// `GET /api/keys/`: the caller's keys, oldest first, without the keys themselves.
pub async fn list_keys(call: &Call<'_>) -> Result<Reply, ApiError> {
    let keys = call.state.store.api_keys_of(call.user()?.id).await?;
    Reply::ok(keys.iter().map(ApiKeyView::from).collect::<Vec<_>>())
}

/// `DELETE /api/keys/{key_id}/`: revoked at once; another user's key is a 404.
pub async fn revoke_key(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.path_uuid("key_id")?;
    if !call.state.store.delete_api_key(call.user()?.id, id).await? {
        return Err(ApiError::not_found("No such API key."));
    }
    Reply::ok(Notice::new("API key revoked."))
}
