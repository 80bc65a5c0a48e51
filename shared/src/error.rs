//! The one error type every handler returns: each expected failure carries its HTTP
//! status, a stable snake_case code and a sentence for people (API.md §1).
//!
//! This is the edge: the core's operations answer in domain errors (`StoreError`,
//! `BillingError`, `RateLimited`, `ChoiceError`, `ProviderError`, `ChatError`,
//! `AccountError`), and
//! the `From` impls below are the one place each becomes a status, a code and a body.
//!
//! Internal failures (a store or bug) become a generic 500 whose detail goes to the
//! log only, so no internal text can reach a client.

use http::StatusCode;
use serde_json::{Map, Value};

use crate::accounts::{AccountError, MAX_API_KEYS};
use crate::auth::AuthError;
use crate::billing::BillingError;
use crate::conversation::shares::{ShareError, MAX_SHARES};
use crate::conversation::ChatError;
use crate::llm::{ChoiceError, ProviderError};
use crate::ratelimit::RateLimited;
use crate::secrets::CursorKeyUnavailable;
use crate::store::StoreError;
use crate::store::MAX_SNAPSHOT_BYTES;

/// When a client should try again after the store was unavailable: past the SDK's
/// own retries, a throttled or unreachable store needs a few seconds.
pub const STORE_RETRY_AFTER_SECS: u64 = 3;

/// When a client should ask a model again after it was unavailable or timed out:
/// a missing key is read again after a pause of its own (1 s, doubling), and an
/// overloaded provider needs a few seconds.
pub const PROVIDER_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Fields that help the client act on the error (`field`, `retry_after`, `chat_id`…).
    pub extra: Map<String, Value>,
    /// Headers the error response must carry (`Retry-After`, `Allow`…).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 for one named field of the request.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message).with("field", field)
    }

    /// 400 for a field the route needs and the body left out.
    pub fn missing_field(field: &str) -> Self {
        Self::bad_request("missing_field", format!("The field `{field}` is required.")).with("field", field)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authenticated", message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// Logs the real cause and answers a 500 that says nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Please try again.",
        )
    }

    /// Logs the real cause and answers a 503 that tells the client when to try
    /// again: the store is unreachable, slow, throttled or busy for now. Whatever the
    /// request had changed is undone or settles itself (a charge is refunded).
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("The service is briefly unavailable. Please try again in {STORE_RETRY_AFTER_SECS} seconds."),
        )
        .with("retry_after", STORE_RETRY_AFTER_SECS)
        .with_header("retry-after", STORE_RETRY_AFTER_SECS.to_string())
    }

    /// The JSON body: `{"error", "code", ...extra}`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message.clone()));
        body.insert("code".into(), Value::String(self.code.into()));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { field } => {
                Self::conflict(field_taken_code(field), format!("That {field} is already taken.")).with("field", field)
            }
            StoreError::Unavailable(cause) => Self::unavailable(cause),
            StoreError::Internal(cause) => Self::internal(format!("{cause:#}")),
        }
    }
}

/// Missing, unknown, expired and revoked credentials are 401; a deactivated account
/// is 403.
impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::NoCredentials => Self::unauthenticated("Authentication credentials were not provided."),
            AuthError::UnknownScheme => Self::unauthenticated(
                "Use the header 'Authorization: Token <token>' or 'Authorization: Bearer <token>'.",
            ),
            AuthError::InvalidToken => Self::unauthenticated("Invalid or expired token."),
            AuthError::Deactivated => Self::forbidden("account_deactivated", "This account has been deactivated."),
            AuthError::ApiKeyNotAccepted => Self::unauthenticated(
                "Personal API keys (sk-cb-…) authenticate the OpenAI-compatible routes (/v1/) only; sign in for a token.",
            ),
            AuthError::Invalid { field, message } => Self::invalid_field(&field, message),
            AuthError::Hashing(cause) => Self::internal(cause),
            AuthError::Store(err) => err.into(),
        }
    }
}

/// The canonical answers; a dialect that answers otherwise maps the variant first.
impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::UsernameTaken => {
                Self::conflict("username_taken", "That username is already taken.").with("field", "username")
            }
            AccountError::EmailTaken => {
                Self::conflict("email_taken", "That email is already registered.").with("field", "email")
            }
            AccountError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "Invalid credentials")
            }
            AccountError::WrongPassword => Self::invalid_field("password.old", "The current password is not correct."),
            AccountError::PasswordChangedMeanwhile => Self::conflict(
                "password_changed",
                "The password was changed by another request meanwhile; sign in again.",
            )
            .with("field", "password.old"),
            AccountError::NotAdmin => Self::forbidden("not_admin", "Only an administrator can do this."),
            AccountError::CannotDeactivateSelf => Self::bad_request(
                "cannot_deactivate_self",
                "An administrator cannot deactivate their own account.",
            ),
            AccountError::UserNotFound => Self::not_found("User not found."),
            AccountError::TooManyApiKeys => Self::conflict(
                "too_many_api_keys",
                format!("An account holds at most {MAX_API_KEYS} API keys: revoke one first."),
            ),
            AccountError::ApiKeyNotFound => Self::not_found("No such API key."),
            AccountError::Auth(err) => err.into(),
            AccountError::Limited(err) => err.into(),
            AccountError::Store(err) => err.into(),
        }
    }
}

impl From<ShareError> for ApiError {
    fn from(err: ShareError) -> Self {
        match err {
            ShareError::TooMany => Self::conflict(
                "too_many_shares",
                format!("An account holds at most {MAX_SHARES} share links: revoke one first."),
            ),
            ShareError::TooLarge => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "chat_too_large_to_share",
                format!(
                    "This chat is too large to share: a link holds at most {MAX_SNAPSHOT_BYTES} bytes of messages. Share a shorter chat."
                ),
            )
            .with("max_bytes", MAX_SNAPSHOT_BYTES),
            ShareError::ChatGone => Self::not_found("Chat not found."),
            ShareError::NoSuchLink => Self::not_found("No such share link (it may have been revoked)."),
            ShareError::Store(err) => err.into(),
        }
    }
}

impl From<BillingError> for ApiError {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::Insufficient { required } => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_tokens",
                format!("Your token balance is too low: a request costs {required} tokens."),
            )
            .with("tokens_required", required),
            BillingError::Store(err) => err.into(),
        }
    }
}

impl From<RateLimited> for ApiError {
    fn from(RateLimited(window): RateLimited) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "Too many requests: the limit is {} a minute. Try again in {} seconds.",
                window.limit, window.reset_secs
            ),
        )
        .with("retry_after", window.reset_secs)
        .with_header("retry-after", window.reset_secs.to_string())
    }
}

impl From<CursorKeyUnavailable> for ApiError {
    fn from(_: CursorKeyUnavailable) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Lists cannot be paged right now. Try again in a minute.",
        )
        .with("retry_after", 60)
        .with_header("retry-after", "60")
    }
}

impl From<ChoiceError> for ApiError {
    fn from(err: ChoiceError) -> Self {
        match err {
            ChoiceError::UnknownProvider { .. } => Self::invalid_field("provider", err.to_string()),
            ChoiceError::UnknownModel { .. } | ChoiceError::WrongProvider { .. } => {
                Self::invalid_field("model", err.to_string())
            }
            ChoiceError::NoModels(_) => Self::internal(err),
        }
    }
}

/// A model's failure: 503 (unavailable), 504 (timed out) or 502 (failed). The
/// message is ours, written for clients, never a provider's raw body.
impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> Self {
        let status = match err {
            ProviderError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProviderError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProviderError::Failed(_) => StatusCode::BAD_GATEWAY,
        };
        let error = Self::new(status, err.code(), err.to_string());
        match err {
            // An unreachable or overloaded model may be back soon: say when to ask.
            ProviderError::Unavailable(_) | ProviderError::Timeout(_) => error
                .with("retry_after", PROVIDER_RETRY_AFTER_SECS)
                .with_header("retry-after", PROVIDER_RETRY_AFTER_SECS.to_string()),
            ProviderError::Failed(_) => error,
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NotFound => Self::not_found("Chat not found."),
            ChatError::ReplyRaced => Self::new(
                StatusCode::CONFLICT,
                "reply_conflict",
                "Another reply to this message was stored meanwhile; this one was not kept or charged.",
            ),
            ChatError::BranchMoved => Self::new(
                StatusCode::CONFLICT,
                "branch_conflict",
                "The chat's active branch was changed by another request meanwhile; nothing was changed or charged. Read the chat and try again.",
            ),
            ChatError::Billing(err) => err.into(),
            ChatError::Store(err) => err.into(),
            ChatError::ReplyUnsure { kept, reply_id } => {
                let mut err = Self::unavailable("the store could not confirm a reply's write");
                err.message = format!(
                    "The service is briefly unavailable and could not confirm that the reply was saved: \
                     look for reply {reply_id} in the chat before asking again (if it is not there, \
                     nothing was charged for it)."
                );
                err.with("chat_id", kept.chat_id.to_string())
                    .with("message_id", kept.message_id.to_string())
                    .with("reply_id", reply_id.to_string())
            }
            ChatError::Model { provider, error, kept } => {
                let err = Self::from(error).with("provider", provider);
                match kept {
                    Some(kept) => err
                        .with("chat_id", kept.chat_id.to_string())
                        .with("message_id", kept.message_id.to_string()),
                    None => err,
                }
            }
        }
    }
}

fn field_taken_code(field: &str) -> &'static str {
    match field {
        "username" => "username_taken",
        "email" => "email_taken",
        _ => "conflict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_error_code_and_extra_fields() {
        let err = ApiError::invalid_field("content", "content must not be empty");
        let body = err.body();
        assert_eq!(body["error"], "content must not be empty");
        assert_eq!(body["code"], "invalid_field");
        assert_eq!(body["field"], "content");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal("disk I/O error at /var/db/secret-path");
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.body().to_string().contains("secret-path"));
    }

    #[test]
    fn model_failures_map_to_gateway_statuses_and_name_the_kept_message() {
        for (error, status) in [
            (ProviderError::Unavailable("x".into()), 503),
            (ProviderError::Timeout("x".into()), 504),
            (ProviderError::Failed("x".into()), 502),
        ] {
            let code = error.code();
            let kept = crate::conversation::Kept {
                chat_id: uuid::Uuid::nil(),
                message_id: uuid::Uuid::max(),
            };
            let err = ApiError::from(ChatError::Model {
                provider: "openai".into(),
                error,
                kept: Some(kept),
            });
            assert_eq!(err.status.as_u16(), status);
            assert_eq!(err.code, code);
            let body = err.body();
            assert_eq!(body["provider"], "openai");
            assert_eq!(body["chat_id"], uuid::Uuid::nil().to_string());
            assert_eq!(body["message_id"], uuid::Uuid::max().to_string());
        }
    }

    #[test]
    fn domain_refusals_keep_their_statuses_codes_and_fields() {
        let err = ApiError::from(BillingError::Insufficient { required: 100 });
        assert_eq!((err.status.as_u16(), err.code), (402, "insufficient_tokens"));
        assert_eq!(err.body()["tokens_required"], 100);
        let window = crate::ratelimit::Window {
            limit: 3,
            hits: 4,
            reset_secs: 50,
        };
        let err = ApiError::from(RateLimited(window));
        assert_eq!((err.status.as_u16(), err.code), (429, "rate_limited"));
        assert!(err.headers.contains(&("retry-after", "50".to_string())));
        let err = ApiError::from(ChoiceError::UnknownProvider {
            provider: "claude".into(),
            known: vec!["openai".into()],
        });
        assert_eq!(
            (err.status.as_u16(), err.body()["field"].clone()),
            (400, "provider".into())
        );
        let err = ApiError::from(ChoiceError::WrongProvider {
            provider: "flan-t5".into(),
            model: "openai/gpt-4o".into(),
        });
        assert_eq!(err.body()["field"], "model");
        assert_eq!(ApiError::from(ChatError::NotFound).status.as_u16(), 404);
    }

    #[test]
    fn store_conflicts_become_409_naming_the_field() {
        let err: ApiError = crate::store::StoreError::Conflict { field: "email" }.into();
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert_eq!(err.code, "email_taken");
        assert_eq!(err.body()["field"], "email");
    }
}
