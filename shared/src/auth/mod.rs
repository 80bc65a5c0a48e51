//! Credentials: Argon2id password hashes and opaque bearer tokens.

pub mod password;
pub mod token;
pub mod username;

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::http::call::Caller;
use crate::state::AppState;

/// Resolves the `Authorization` header to an active user with one store read.
/// Unknown, expired and revoked tokens are 401; a deactivated account is 403.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    let presented = token::from_authorization(authorization)?;
    let token_digest = token::digest(presented);
    let user = state
        .store
        .user_by_token(&token_digest, now)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("Invalid or expired token."))?;
    if !user.is_active {
        return Err(ApiError::forbidden(
            "account_deactivated",
            "This account has been deactivated.",
        ));
    }
    Ok(Caller { user, token_digest })
}
