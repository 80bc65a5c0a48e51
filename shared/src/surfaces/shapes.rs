//! The shapes every surface shares: the error bodies (API.md §1, and OpenAI's for
//! `/v1/…`), a notice, and the PATCH helper that tells `null` from absent. They
//! derive their OpenAPI schemas, so the document cannot drift from the code.

use serde::{Deserialize, Deserializer};

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`), for
/// PATCH bodies where `null` clears a value and absence leaves it.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A body that says only what happened.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Notice {
    pub message: String,
}

impl Notice {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The error body of the OpenAI-compatible routes (`/v1/…`), in OpenAI's shape so
/// its clients read it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiError,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiError {
    /// A sentence for people.
    pub message: String,
    /// OpenAI's error class: `invalid_request_error`, `authentication_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// The same stable snake_case code as every other route's `code`.
    pub code: String,
}

/// Every error body (API.md §1).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence for people.
    pub error: String,
    /// A stable snake_case code for programs.
    pub code: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again, on 429, and on 503/504 (the store or
    /// the model unavailable or late); also the `Retry-After` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// On 502/503/504: the chat and the kept user message, to regenerate later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// On a 503 `store_unavailable` whose reply's write could not be confirmed: the
    /// reply to look for in the chat before asking again (there, it was paid for;
    /// absent, it was not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
}
