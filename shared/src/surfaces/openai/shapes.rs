//! The OpenAI-compatible request as the document shows it: the handler reads its
//! own type (`handlers::openai::CompletionRequest`, which accepts and ignores
//! the many other fields OpenAI's clients send); this one says what it checks.

use utoipa::ToSchema;

/// OpenAI's chat completion request. Fields not listed (temperature, user, …) are
/// accepted and ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChatCompletionRequest {
    /// `provider/model`, as `GET /v1/models` lists them (or a model of the
    /// default provider).
    #[schema(min_length = 1)]
    pub model: String,
    /// The conversation, oldest first; the last message must be the user's.
    #[schema(min_items = 1)]
    pub messages: Vec<ChatCompletionMessage>,
    /// Server-sent `chat.completion.chunk` events instead of one object.
    pub stream: Option<bool>,
    pub stream_options: Option<ChatCompletionStreamOptions>,
    /// The reply's cap in tokens (clamped to the server's `MAX_REPLY_TOKENS`).
    #[schema(minimum = 1, maximum = 4294967295_u64)]
    pub max_tokens: Option<u64>,
    /// OpenAI's newer name for `max_tokens`; wins over it.
    #[schema(minimum = 1, maximum = 4294967295_u64)]
    pub max_completion_tokens: Option<u64>,
    /// Only one choice is made.
    #[schema(minimum = 1, maximum = 1)]
    pub n: Option<u64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChatCompletionStreamOptions {
    /// A last chunk with the usage.
    pub include_usage: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChatCompletionMessage {
    /// `system` and `developer` messages become an instruction before the first
    /// user message.
    pub role: ChatCompletionRole,
    /// Text (at most 16 000 characters), or text parts.
    #[schema(schema_with = content)]
    pub content: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ChatCompletionRole {
    System,
    Developer,
    User,
    Assistant,
}

/// A message's content: text, text parts, or `null`.
fn content() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    let part = ObjectBuilder::new()
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["text"])),
        )
        .required("type")
        .property("text", ObjectBuilder::new().schema_type(Type::String))
        .required("text")
        .description(Some("A content part: only text."));
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(crate::http::body::MAX_MESSAGE_CHARS)),
        )
        .item(ArrayBuilder::new().items(part))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}
