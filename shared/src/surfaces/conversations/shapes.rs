//! Dialect B's shapes (API.md §4): Gemini-style conversations whose ids are chat
//! numbers, and the `POST /api/chat/` body it shares with dialect C.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /api/conversations/create/`; the body may be empty.
#[derive(Deserialize, ToSchema, Default)]
pub struct CreateConversationRequest {
    /// The title (1–200 characters); without one, the first message names the chat.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedConversation {
    /// The chat's number.
    pub conversation_id: i64,
    /// `New Chat` until the first message names it.
    pub title: String,
    /// ISO 8601, UTC.
    pub created_at: String,
}

/// One entry of `GET /api/conversations/`.
#[derive(Serialize, ToSchema)]
pub struct ConversationSummary {
    /// The chat's number.
    pub id: i64,
    pub title: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    /// The caller's username.
    pub user: String,
    /// How many conversations this page carries.
    pub total: usize,
    /// Newest first.
    pub conversations: Vec<ConversationSummary>,
    /// The next page's cursor (also in the Link header); `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /api/chat/`: dialect B sends `conversation_id`, dialect C does not (the
/// open chat, or a new one).
#[derive(Deserialize, ToSchema, Default)]
pub struct DialectChatRequest {
    /// The message; at most 16 000 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 16000, pattern = r"\S")]
    pub message: Option<String>,
    /// A chat number, as a JSON number or a string of digits.
    #[serde(default)]
    #[schema(schema_with = chat_number)]
    pub conversation_id: Option<Value>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// A chat number as B's clients send it: a JSON number or a string of digits, 1 or
/// more (`null`: none).
fn chat_number() -> utoipa::openapi::schema::Schema {
    number_schema(true)
}

fn required_chat_number() -> utoipa::openapi::schema::Schema {
    number_schema(false)
}

fn number_schema(nullable: bool) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let mut schema = AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]*[1-9][0-9]*$"))
                .max_length(Some(18)),
        )
        .description(Some(
            "A chat number (1, 2, 3…), as a JSON number or a string of digits.",
        ));
    if nullable {
        schema = schema.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    schema.build().into()
}

/// The answer of `POST /api/chat/`: B's fields and C's together.
#[derive(Serialize, ToSchema)]
pub struct DialectChatResponse {
    /// The chat's number.
    pub conversation_id: i64,
    pub title: String,
    pub user_message: String,
    pub ai_response: String,
    /// When the reply was stored, ISO 8601 UTC.
    pub timestamp: String,
    /// The chat's messages (user and model) after this exchange.
    pub history_length: usize,
    /// Dialect C: the user's message.
    pub message: String,
    /// Dialect C: the reply.
    pub response: String,
    /// The balance left after the charge.
    pub tokens_remaining: i64,
}

/// One message as B's clients read it, with Gemini's role names.
#[derive(Serialize, ToSchema)]
pub struct ConversationMessage {
    /// `user` or `model`.
    pub role: String,
    pub content: String,
    /// ISO 8601, UTC.
    pub timestamp: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationMessages {
    pub conversation_id: i64,
    pub title: String,
    pub total_messages: usize,
    /// Oldest first: the newest 500 of a longer chat.
    pub messages: Vec<ConversationMessage>,
}

#[derive(Deserialize, ToSchema)]
pub struct RenameConversationRequest {
    /// 1–200 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RenamedConversation {
    /// `Title updated`.
    pub message: String,
    pub conversation_id: i64,
    pub new_title: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RegenerateConversationRequest {
    /// A chat number, as a JSON number or a string of digits.
    #[serde(default)]
    #[schema(schema_with = required_chat_number, required = true)]
    pub conversation_id: Option<Value>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegeneratedConversation {
    pub conversation_id: i64,
    pub new_ai_response: String,
    pub tokens_remaining: i64,
}
