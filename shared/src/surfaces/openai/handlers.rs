//! The OpenAI-compatible API: `POST /v1/chat/completions` (whole, or streamed as
//! OpenAI's server-sent events ending in `data: [DONE]`) and `GET /v1/models`, so
//! the official OpenAI client libraries work with a base URL and the user's token
//! as the API key. Completions are billed and rate-limited like chat messages; as
//! in OpenAI's API they are stateless (the client sends the conversation), so
//! nothing is stored in the user's chats. They are bounded like every model call
//! (API.md §6): the reply by `MAX_REPLY_TOKENS` (a larger `max_tokens` is clamped),
//! the conversation by the model's context, cut as a stored chat's is.

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::conversation::reply::{self, Ask, Delivery, Job, Replied};
use crate::conversation::ChatError;
use crate::error::ApiError;
use crate::http::body::MAX_MESSAGE_CHARS;
use crate::http::call::Call;
use crate::http::reply::{Output, Payload, Reply};
use crate::http::stream::{data, stream_reply, Ending, Framing};
use crate::llm::{context, Turn, Usage};
use crate::store::Role;
use crate::surfaces::shapes::{OpenAiError, OpenAiErrorBody};

/// OpenAI's request; fields we do not use (temperature, user, …) are accepted and
/// ignored, as OpenAI clients send many of them by default.
#[derive(Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub messages: Vec<InputMessage>,
    /// `null` is no stream, as in OpenAI's API (its document makes it nullable).
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub tools: Option<Value>,
    #[serde(flatten)]
    pub _ignored: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Deserialize)]
pub struct InputMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(flatten)]
    pub _ignored: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

fn text_of(content: Option<Content>, index: usize) -> Result<String, ApiError> {
    let field = format!("messages[{index}].content");
    let text = match content {
        None => String::new(),
        Some(Content::Text(text)) => text,
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(piece)) => text.push_str(&piece),
                    (kind, _) => {
                        return Err(ApiError::invalid_field(
                            &field,
                            format!("Content parts of type {kind:?} are not supported; send text."),
                        ))
                    }
                }
            }
            text
        }
    };
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_long",
            format!("`{field}` is longer than {MAX_MESSAGE_CHARS} characters."),
        )
        .with("field", field));
    }
    Ok(text)
}

/// OpenAI's messages, read: the conversation's turns, oldest first, and the
/// system and developer messages, which become an instruction before the first
/// user message (the providers behind this API do not all have a system role).
pub struct Conversation {
    instructions: Vec<String>,
    turns: Vec<Turn>,
}

/// Reads OpenAI's messages; a conversation no model can answer is a 400.
pub fn read_messages(messages: Vec<InputMessage>) -> Result<Conversation, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid_field("messages", "`messages` must not be empty."));
    }
    let mut instructions = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        let text = text_of(message.content, index)?;
        match message.role.as_str() {
            "system" | "developer" => instructions.push(text),
            "user" => turns.push(Turn::user(text)),
            "assistant" => turns.push(Turn::assistant(text)),
            other => {
                return Err(ApiError::invalid_field(
                    &format!("messages[{index}].role"),
                    format!("The role {other:?} is not supported here."),
                ))
            }
        }
    }
    if turns.last().is_none_or(|t| t.role != Role::User) {
        return Err(ApiError::invalid_field(
            "messages",
            "The last message must be the user's.",
        ));
    }
    Ok(Conversation { instructions, turns })
}

impl Conversation {
    /// The turns the model sees, cut to its context as a stored chat's are
    /// (`context::select`, API.md §6): the newest that fit `budget` tokens and
    /// `max_turns`, never opening with a reply, the last user message always
    /// kept. The instruction is kept too, counted in the budget, before the first
    /// user message that is left.
    pub fn into_turns(self, budget: usize, max_turns: usize, count_tokens: impl Fn(&str) -> usize) -> Vec<Turn> {
        let instruction = self.instructions.join("\n");
        let reserved = if instruction.is_empty() {
            0
        } else {
            count_tokens(&instruction)
        };
        let newest_first: Vec<Turn> = self.turns.into_iter().rev().collect();
        let mut turns = context::select(&newest_first, budget.saturating_sub(reserved), max_turns, count_tokens);
        if !instruction.is_empty() {
            if let Some(first) = turns.iter_mut().find(|t| t.role == Role::User) {
                first.content = format!("{instruction}\n\n{}", first.content);
            }
        }
        turns
    }
}

/// The reply's cap, `max_completion_tokens` (OpenAI's current name) or
/// `max_tokens`: at least 1, and clamped to `cap` (`MAX_REPLY_TOKENS`), as OpenAI
/// itself caps a request at the model's own limit.
fn max_new_tokens(body: &CompletionRequest, cap: u32) -> Result<Option<u32>, ApiError> {
    let (field, asked) = match (body.max_completion_tokens, body.max_tokens) {
        (Some(n), _) => ("max_completion_tokens", n),
        (None, Some(n)) => ("max_tokens", n),
        (None, None) => return Ok(None),
    };
    if asked == 0 {
        return Err(ApiError::invalid_field(field, format!("`{field}` must be at least 1.")));
    }
    Ok(Some(crate::llm::reply_tokens(Some(asked), cap)))
}

pub async fn chat_completions(call: &Call<'_>) -> Result<Output, ApiError> {
    let body: CompletionRequest = call.json()?;
    if body.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid_field("n", "Only one choice (`n: 1`) is supported."));
    }
    if body.tools.as_ref().is_some_and(|t| !t.is_null()) {
        return Err(ApiError::invalid_field("tools", "Tools are not supported."));
    }
    let max_new_tokens = max_new_tokens(&body, call.state.config.max_reply_tokens)?;
    let choice = call.state.llm().choose(None, Some(&body.model))?;
    let provider = choice.provider.clone();
    let turns = read_messages(body.messages)?.into_turns(
        provider.input_budget(&choice.model),
        call.state.config.context_messages,
        |text| provider.count_tokens(text),
    );
    let head = ChunkHead {
        id: format!("chatcmpl-{}", Uuid::now_v7().simple()),
        created: call.now.timestamp(),
        model: format!("{}/{}", choice.provider.id(), choice.model),
    };
    let job = Job {
        user: call.user()?.clone(),
        ask: Ask::Conversation { turns },
        choice,
        max_new_tokens,
        key_id: call.api_key(),
    };
    if body.stream.unwrap_or(false) {
        let running = reply::prepare(&call.state.conversations(), job, Delivery::Streamed).await?;
        let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
        return Ok(stream_reply(running, Chunks { head, include_usage }));
    }
    let replied = reply::prepare(&call.state.conversations(), job, Delivery::Whole)
        .await?
        .finish(&mut reply::Whole)
        .await?;
    Reply::ok(json!({
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": replied.text, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage_json(replied.usage),
        "system_fingerprint": null,
    }))
    .map(Output::Whole)
}

fn usage_json(usage: Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

struct ChunkHead {
    id: String,
    created: i64,
    model: String,
}

impl ChunkHead {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        })
        .to_string()
    }
}

/// The provider's pieces as OpenAI chunks: the assistant's role first, then the
/// content, then the finish reason, the usage when asked for, and `[DONE]`. A model
/// failure mid-way ends the stream with an `error` event, which OpenAI's clients
/// raise.
struct Chunks {
    head: ChunkHead,
    include_usage: bool,
}

impl Framing for Chunks {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn opening(&self) -> Option<Bytes> {
        Some(data(
            &self.head.chunk(json!({"role": "assistant", "content": ""}), None),
        ))
    }

    fn piece(&self, text: &str) -> Bytes {
        data(&self.head.chunk(json!({ "content": text }), None))
    }

    fn ending(&self, outcome: Result<Replied, ChatError>) -> Ending {
        let replied = match outcome {
            Ok(replied) => replied,
            Err(err) => return Ending::Failed(vec![data(&error_body(&ApiError::from(err)).to_string())]),
        };
        let head = &self.head;
        let finish_reason = if replied.cut { "length" } else { "stop" };
        let mut frames = vec![data(&head.chunk(json!({}), Some(finish_reason)))];
        if self.include_usage {
            let last = json!({"id": head.id, "object": "chat.completion.chunk", "created": head.created, "model": head.model,
                "choices": [], "usage": usage_json(replied.usage)});
            frames.push(data(&last.to_string()));
        }
        frames.push(data("[DONE]"));
        Ending::Finished(frames)
    }
}

pub async fn list_models(call: &Call<'_>) -> Result<Reply, ApiError> {
    let mut data: Vec<Value> = Vec::new();
    for provider in call.state.llm().providers() {
        for model in provider.models() {
            if provider.is_model_available(&model).await {
                data.push(json!({"id": format!("{}/{model}", provider.id()), "object": "model", "created": 0, "owned_by": provider.id()}));
            }
        }
    }
    Reply::ok(json!({"object": "list", "data": data}))
}

/// OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`.
fn error_body(err: &ApiError) -> Value {
    let kind = match err.status.as_u16() {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    let body = OpenAiErrorBody {
        error: OpenAiError {
            message: err.message.clone(),
            kind: kind.to_string(),
            param: err.extra.get("field").and_then(Value::as_str).map(String::from),
            code: err.code.to_string(),
        },
    };
    json!(body)
}

/// An error in OpenAI's shape, with the same status and headers.
pub fn error_reply(err: ApiError) -> Reply {
    Reply {
        status: err.status,
        body: Payload::Json(error_body(&err)),
        headers: err.headers.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(value: Value) -> Vec<InputMessage> {
        serde_json::from_value(value).unwrap()
    }

    /// The whole conversation, with room for all of it.
    fn to_turns(messages: Vec<InputMessage>) -> Result<Vec<Turn>, ApiError> {
        Ok(read_messages(messages)?.into_turns(usize::MAX / 2, 1000, crate::llm::estimate_tokens))
    }

    fn words(n: usize) -> String {
        vec!["word"; n].join(" ")
    }

    #[test]
    fn a_long_conversation_is_cut_to_the_newest_turns_that_fit_keeping_the_instruction() {
        let count = |text: &str| text.split_whitespace().count();
        let long = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": words(50)},
            {"role": "assistant", "content": words(50)},
            {"role": "user", "content": words(10)},
            {"role": "assistant", "content": words(10)},
            {"role": "user", "content": "last"},
        ]);
        // 40 tokens: the instruction (2), the last three turns (1 + 10 + 10 and
        // their overhead); the 50-word turns are cut.
        let turns = read_messages(messages(long.clone())).unwrap().into_turns(40, 20, count);
        let sizes: Vec<usize> = turns.iter().map(|t| count(&t.content)).collect();
        assert_eq!(sizes, [2 + 10, 10, 1], "{turns:?}");
        assert!(turns[0].content.starts_with("Be brief.\n\n"));
        // The turn cap cuts too, and a context never opens with a reply.
        let turns = read_messages(messages(long.clone()))
            .unwrap()
            .into_turns(10_000, 2, count);
        assert_eq!(turns.len(), 1);
        assert_eq!(turns[0].content, "Be brief.\n\nlast");
        // The question is kept even alone over the budget.
        let turns = read_messages(messages(long)).unwrap().into_turns(1, 20, count);
        assert_eq!(turns.len(), 1);
        assert_eq!(turns[0].role, Role::User);
    }

    #[test]
    fn system_messages_become_an_instruction_before_the_first_question() {
        let turns = to_turns(messages(json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye", "name": "alice"},
        ])))
        .unwrap();
        assert_eq!(turns.len(), 3);
        assert_eq!(turns[0].content, "Be brief.\n\nHi there");
        assert_eq!(turns[2], Turn::user("Bye"));
    }

    #[test]
    fn unusable_conversations_are_400() {
        assert!(to_turns(vec![]).is_err());
        assert_eq!(
            to_turns(messages(json!([{"role": "assistant", "content": "x"}])))
                .unwrap_err()
                .body()["field"],
            "messages"
        );
        assert_eq!(
            to_turns(messages(json!([{"role": "tool", "content": "x"}])))
                .unwrap_err()
                .body()["field"],
            "messages[0].role"
        );
        let image = json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]);
        assert_eq!(
            to_turns(messages(image)).unwrap_err().body()["field"],
            "messages[0].content"
        );
        let long = json!([{"role": "user", "content": "x".repeat(MAX_MESSAGE_CHARS + 1)}]);
        assert_eq!(to_turns(messages(long)).unwrap_err().status.as_u16(), 413);
    }

    #[test]
    fn errors_take_openai_shape() {
        let reply = error_reply(ApiError::invalid_field("model", "Unknown model."));
        let body = reply.body.json().unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(reply.status.as_u16(), 400);
    }
}
