//! `/api/keys/`: personal API keys for programmatic use of `/v1/*` (API.md §7).
//! A key is shown once, when created; the store keeps its digest.

use crate::accounts;
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Reply;
use crate::surfaces::accounts::shapes::api_keys::{ApiKeyView, CreateApiKeyRequest, CreatedApiKey};
use crate::surfaces::shapes::Notice;
use crate::time::iso;

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
    let (key, secret) = accounts::create_api_key(call.state.api_keys(), user, name, call.now).await?;
    Reply::created(CreatedApiKey {
        key_id: key.id,
        name: key.name,
        key: secret,
        created_at: iso(key.created_at),
    })
}

/// `GET /api/keys/`: the caller's keys, oldest first, without the keys themselves.
pub async fn list_keys(call: &Call<'_>) -> Result<Reply, ApiError> {
    let keys = accounts::api_keys_of(call.state.api_keys(), call.user()?).await?;
    Reply::ok(keys.iter().map(ApiKeyView::from).collect::<Vec<_>>())
}

/// `DELETE /api/keys/{key_id}/`: revoked at once; another user's key is a 404.
pub async fn revoke_key(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.path_uuid("key_id")?;
    accounts::revoke_api_key(call.state.api_keys(), call.user()?, id).await?;
    Reply::ok(Notice::new("API key revoked."))
}
