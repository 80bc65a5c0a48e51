//! Credentials: Argon2id password hashes and opaque bearer tokens.

pub mod password;
pub mod token;
pub mod username;

use chrono::{DateTime, Utc};

use uuid::Uuid;

use crate::store::{ApiKeys, StoreError, Tokens, User};

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    /// Digest of the token the request presented (logout revokes it).
    pub token_digest: String,
    /// How the token came: a cookie-authenticated request is one a browser may
    /// send on another site's behalf, so it gets the cross-site request check.
    pub credential: Credential,
}

/// Where the request's token was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Token …` or `Bearer …`.
    Header,
    /// The session cookie (API.md §4, cookie authentication).
    Cookie,
    /// A personal API key (this one), in the header, on `/v1/*` only.
    ApiKey(Uuid),
}

/// How a personal API key begins, so that clients and scanners can tell one.
pub const API_KEY_PREFIX: &str = "sk-cb-";

/// Why a request is not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    NoCredentials,
    /// An `Authorization` header of another scheme, or without a token.
    #[error("unknown authorization scheme")]
    UnknownScheme,
    /// Unknown, expired or revoked.
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("the account is deactivated")]
    Deactivated,
    /// A personal API key on a route other than `/v1/*`.
    #[error("an API key outside /v1")]
    ApiKeyNotAccepted,
    /// A username, email or password that breaks the account rules; `message` says
    /// which rule, for the client.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Argon2 could not run (a bug, or the blocking pool is gone).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Resolves a presented token (from the header or the session cookie) to an
/// active user with one store read.
pub async fn authenticate_token(
    tokens: &dyn Tokens,
    presented: &str,
    credential: Credential,
    now: DateTime<Utc>,
) -> Result<Caller, AuthError> {
    if presented.is_empty() {
        return Err(AuthError::InvalidToken);
    }
    let token_digest = token::digest(presented);
    let user = tokens
        .user_by_token(&token_digest, now)
        .await?
        .ok_or(AuthError::InvalidToken)?;
    if !user.is_active {
        return Err(AuthError::Deactivated);
    }
    Ok(Caller {
        user,
        token_digest,
        credential,
    })
}

/// Resolves a personal API key to its active owner, counting the use.
pub async fn authenticate_api_key(
    keys: &dyn ApiKeys,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Caller, AuthError> {
    let digest = token::digest(presented);
    let (user, key_id) = keys.use_api_key(&digest, now).await?.ok_or(AuthError::InvalidToken)?;
    if !user.is_active {
        return Err(AuthError::Deactivated);
    }
    Ok(Caller {
        user,
        token_digest: digest,
        credential: Credential::ApiKey(key_id),
    })
}
