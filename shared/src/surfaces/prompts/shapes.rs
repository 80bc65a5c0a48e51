//! Dialect D's shapes (API.md §4): one prompt route per provider, chats named by
//! client-chosen UUIDs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /prompt_gpt/` and `POST /prompt_gemini/`.
#[derive(Deserialize, ToSchema)]
pub struct PromptRequest {
    /// The chat (a UUID the client chose): continued, or created with this id.
    /// Without it, the open chat.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub chat_id: Option<String>,
    /// The message; at most 16 000 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 16000, pattern = r"\S")]
    pub content: Option<String>,
    /// A model of the route's provider.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PromptResponse {
    /// The model's answer.
    pub reply: String,
    pub chat_id: Uuid,
    /// The id of the user's message.
    pub message_id: Uuid,
    /// The id of the reply.
    pub reply_id: Uuid,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tokens_remaining: i64,
}
