//! OpenAI's Chat Completions API (`POST {OPENAI_BASE_URL}/chat/completions`),
//! whole and streamed as server-sent events ending in `data: [DONE]`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use super::transport::{decode_stream, lines, roles, sse_data, LineEvent, Transport};
use crate::keys::KeyStore;
use crate::{Chunk, ChunkStream, GenerateRequest, Generation, Provider, ProviderError, Usage};

pub const PROVIDER_ID: &str = "openai";
const KEY: &str = "OPENAI_API_KEY";

pub struct OpenAi {
    transport: Transport,
    base_url: String,
    models: Vec<String>,
    keys: Arc<dyn KeyStore>,
}

impl OpenAi {
    pub fn new(base_url: &str, models: Vec<String>, keys: Arc<dyn KeyStore>, timeout: Duration) -> Self {
        Self {
            transport: Transport::new("OpenAI", timeout),
            base_url: base_url.to_string(),
            models,
            keys,
        }
    }

    fn body(request: &GenerateRequest, stream: bool) -> Value {
        let messages: Vec<Value> = roles(&request.turns, "user", "assistant")
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        let mut body = json!({"model": request.model, "messages": messages, "stream": stream});
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        // OpenAI's current name for the output bound: `max_tokens` is deprecated
        // and refused by its reasoning models (o1, o3, …).
        body["max_completion_tokens"] = json!(request.reply_tokens());
        body
    }

    async fn post(&self, request: &GenerateRequest, stream: bool) -> Result<reqwest::Response, ProviderError> {
        let url = format!("{}/chat/completions", self.base_url);
        let body = Self::body(request, stream);
        self.transport
            .send_with_key(self.keys.as_ref(), KEY, |client, key| {
                client.post(&url).bearer_auth(key).json(&body)
            })
            .await
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<CompletionChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StreamChoice {
    delta: WireMessage,
}

/// Reads a whole completion.
pub fn parse_completion(body: &[u8]) -> Option<Generation> {
    let completion: Completion = serde_json::from_slice(body).ok()?;
    let text = completion
        .choices
        .into_iter()
        .next()?
        .message
        .content
        .unwrap_or_default();
    Some(Generation {
        text,
        usage: completion.usage.map(Usage::from).unwrap_or_default(),
    })
}

/// Reads one line of a streamed completion.
pub fn parse_stream_line(line: &str) -> Result<LineEvent, ProviderError> {
    let Some(data) = sse_data(line) else {
        return Ok(LineEvent::Skip);
    };
    if data.trim() == "[DONE]" {
        return Ok(LineEvent::Done(Vec::new()));
    }
    let chunk: StreamChunk = serde_json::from_str(data)
        .map_err(|_| ProviderError::Failed("OpenAI sent a streamed piece that could not be read.".into()))?;
    let mut chunks = Vec::new();
    if let Some(text) = chunk
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.delta.content)
        .filter(|t| !t.is_empty())
    {
        chunks.push(Chunk::Text(text));
    }
    if let Some(usage) = chunk.usage {
        chunks.push(Chunk::Usage(usage.into()));
    }
    Ok(if chunks.is_empty() {
        LineEvent::Skip
    } else {
        LineEvent::Chunks(chunks)
    })
}

#[async_trait]
impl Provider for OpenAi {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn is_available(&self) -> bool {
        self.keys.get(KEY).await.is_some()
    }

    async fn unavailable_reason(&self, _model: &str) -> Option<String> {
        match self.keys.get(KEY).await {
            Some(_) => None,
            None => Some(self.transport.missing_key(KEY)),
        }
    }

    fn input_budget(&self, _model: &str) -> usize {
        // The smallest context of the current chat models is 16k tokens; a chat
        // rarely needs more, and a smaller prompt is cheaper.
        16_000
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        let response = self.post(&request, false).await?;
        let body = self.transport.body(response).await?;
        parse_completion(&body).ok_or_else(|| self.transport.malformed())
    }

    async fn stream(&self, request: GenerateRequest) -> Result<ChunkStream, ProviderError> {
        let response = self.post(&request, true).await?;
        Ok(decode_stream(lines(response, "OpenAI"), "OpenAI", parse_stream_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Turn;

    #[test]
    fn requests_use_openai_roles_and_ask_for_streamed_usage() {
        let request = GenerateRequest {
            model: "gpt-4o-mini".into(),
            turns: vec![Turn::user("hi"), Turn::assistant("hello"), Turn::user("bye")],
            max_new_tokens: Some(5),
        };
        let body = OpenAi::body(&request, true);
        assert_eq!(body["messages"][1], json!({"role": "assistant", "content": "hello"}));
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 5);
        assert!(body.get("max_tokens").is_none(), "the deprecated name is not sent");
        let unbounded = GenerateRequest {
            max_new_tokens: None,
            ..request
        };
        let body = OpenAi::body(&unbounded, false);
        assert_eq!(body["max_completion_tokens"], crate::DEFAULT_MAX_REPLY_TOKENS);
    }

    #[test]
    fn completions_are_read_and_malformed_ones_refused() {
        let body = br#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#;
        let generation = parse_completion(body).unwrap();
        assert_eq!(
            (
                generation.text.as_str(),
                generation.usage.prompt_tokens,
                generation.usage.completion_tokens
            ),
            ("Hi!", 9, 2)
        );
        assert!(parse_completion(br#"{"choices":[]}"#).is_none());
        assert!(parse_completion(b"<html>").is_none());
        assert!(parse_completion(br#"{"choices":[{"message":{"content":"cut"#).is_none());
    }

    #[test]
    fn stream_lines() {
        let delta = r#"data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
        assert_eq!(
            parse_stream_line(delta).unwrap(),
            LineEvent::Chunks(vec![Chunk::Text("Hel".into())])
        );
        let usage = r#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;
        assert_eq!(
            parse_stream_line(usage).unwrap(),
            LineEvent::Chunks(vec![Chunk::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 4
            })])
        );
        assert_eq!(parse_stream_line("data: [DONE]").unwrap(), LineEvent::Done(vec![]));
        assert_eq!(parse_stream_line("").unwrap(), LineEvent::Skip);
        assert!(parse_stream_line("data: {broken").is_err());
    }
}
