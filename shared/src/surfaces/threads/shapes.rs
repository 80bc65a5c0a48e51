//! Dialect E's shapes (API.md §4): Ollama-style threads whose ids are chat
//! numbers, read by a web client that signs in with the session cookie. Field
//! names are the ones E's client reads; the extra fields are ours.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::surfaces::accounts::shapes::users::UserView;

/// `POST /auth/register/`: E's answer is flat (`username`, `email` at the top).
#[derive(Serialize, ToSchema)]
pub struct ERegisterResponse {
    /// "User created successfully"
    pub message: String,
    pub username: String,
    pub email: Option<String>,
    pub user: UserView,
    /// A token for API clients; E's own client logs in afterwards.
    pub token: String,
    pub tokens: i64,
}

/// `POST /auth/login/`: also sets the session cookie.
#[derive(Serialize, ToSchema)]
pub struct ELoginResponse {
    /// "Login successful"
    pub message: String,
    /// The token the cookie carries, for clients that send it in a header.
    pub token: String,
    pub user: UserView,
}

/// `GET /auth/status/` (401 when not signed in).
#[derive(Serialize, ToSchema)]
pub struct EStatusResponse {
    /// "User is logged in"
    pub message: String,
    pub username: String,
}

/// `POST /auth/deactivate/{username}/`.
#[derive(Serialize, ToSchema)]
pub struct EDeactivatedResponse {
    /// "User {name} has been deactivated."
    pub message: String,
    pub username: String,
    pub is_active: bool,
}

/// One thread of `GET /chat/threads/`.
#[derive(Serialize, ToSchema)]
pub struct EThreadView {
    /// The chat number: 1, 2, 3… within the account.
    pub id: i64,
    /// "New Chat" until the first message names it.
    pub title: String,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// The chat's UUID in the canonical routes.
    pub chat_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct EThreadsResponse {
    /// Newest first.
    pub threads: Vec<EThreadView>,
    /// The next page's cursor (also in the `Link` header); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /chat/threads/new/` (201).
#[derive(Serialize, ToSchema)]
pub struct ENewThreadResponse {
    pub thread_id: i64,
    pub title: String,
    pub created_at: String,
}

/// One message of `GET /chat/threads/{id}/messages/`.
#[derive(Serialize, ToSchema)]
pub struct EMessageView {
    /// "user" or "bot".
    pub sender: String,
    pub content: String,
    /// ISO 8601, UTC.
    pub created_at: String,
    pub message_id: String,
    /// True for a reply whose stream the client left before its end.
    pub partial: bool,
}

#[derive(Serialize, ToSchema)]
pub struct EMessagesResponse {
    pub thread_id: i64,
    /// Oldest first: the newest `E_MESSAGES_LIMIT` (500) of the thread.
    pub messages: Vec<EMessageView>,
}

/// The body of both message routes. Anything but a non-empty string in
/// `message` is 400 "No message provided".
#[derive(Deserialize, ToSchema)]
pub struct EMessageRequest {
    /// A transcript, as E's client sends it: `user: …` / `bot: …` lines, the new
    /// question last. The question (what follows the last `user:` line, or the
    /// whole message without one) is stored and answered; it must not be blank and
    /// has at most 16 000 characters (413 otherwise). The earlier lines are not
    /// needed: the model's context is the stored thread.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, pattern = r"\S")]
    pub message: Option<String>,
    /// Optional, as in the canonical routes; the configured default otherwise.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// `POST /chat/response/{id}/`.
#[derive(Serialize, ToSchema)]
pub struct EResponse {
    /// The model's reply.
    pub response: String,
    pub thread_id: i64,
    pub message_id: String,
    pub reply_id: String,
    pub tokens_remaining: i64,
}

/// `PUT /chat/threads/{id}/update-title/`.
#[derive(Deserialize, ToSchema)]
pub struct ETitleRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
}

/// What E's thread changes answer: `status` is the original's field, `message`
/// this API's.
#[derive(Serialize, ToSchema)]
pub struct EStatusNotice {
    pub status: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
}
