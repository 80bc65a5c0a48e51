//! An Ollama server's chat API (`POST {OLLAMA_HOST}/api/chat`), whole or streamed
//! as one JSON object a line. No key: the server is the operator's own.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

use super::transport::{decode_stream, lines, roles, LineEvent, Transport};
use crate::{Chunk, ChunkStream, GenerateRequest, Generation, Provider, ProviderError, Usage};

pub const PROVIDER_ID: &str = "ollama";
/// Why Ollama cannot answer without a server to call.
/// What clients are told; the log names the setting (`not_configured`).
const NOT_CONFIGURED: &str = "Ollama is not configured on this server.";

fn not_configured() -> String {
    tracing::warn!("Ollama is not configured: set OLLAMA_HOST");
    NOT_CONFIGURED.to_string()
}

pub struct Ollama {
    transport: Transport,
    /// `None` when `OLLAMA_HOST` is unset: the provider is listed, unavailable.
    host: Option<String>,
    models: Vec<String>,
}

impl Ollama {
    pub fn new(host: Option<String>, models: Vec<String>, timeout: Duration) -> Self {
        Self {
            transport: Transport::new("Ollama", timeout),
            host,
            models,
        }
    }

    fn body(request: &GenerateRequest, stream: bool) -> Value {
        let messages: Vec<Value> = roles(&request.turns, "user", "assistant")
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        json!({
            "model": request.model,
            "messages": messages,
            "stream": stream,
            "options": { "num_predict": request.reply_tokens() },
        })
    }

    async fn post(&self, request: &GenerateRequest, stream: bool) -> Result<reqwest::Response, ProviderError> {
        let host = self
            .host
            .as_deref()
            .ok_or_else(|| ProviderError::Unavailable(not_configured()))?;
        let url = format!("{host}/api/chat");
        let body = Self::body(request, stream);
        self.transport.send_open(|client| client.post(&url).json(&body)).await
    }
}

#[derive(Deserialize)]
struct Reply {
    message: Option<Message>,
    #[serde(default)]
    done: bool,
    prompt_eval_count: Option<u32>,
    eval_count: Option<u32>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: String,
}

impl Reply {
    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_eval_count.unwrap_or(0),
            completion_tokens: self.eval_count.unwrap_or(0),
        }
    }

    fn failure(&self) -> Option<ProviderError> {
        // The server's own words can name paths on its machine; say only that it failed.
        self.error
            .as_ref()
            .map(|_| ProviderError::Failed("Ollama could not answer (it reported an error).".into()))
    }
}

pub fn parse_reply(body: &[u8]) -> Result<Generation, ProviderError> {
    let reply: Reply = serde_json::from_slice(body)
        .map_err(|_| ProviderError::Failed("Ollama sent an answer that could not be read.".into()))?;
    if let Some(err) = reply.failure() {
        return Err(err);
    }
    let message = reply
        .message
        .as_ref()
        .ok_or_else(|| ProviderError::Failed("Ollama sent an answer without a message.".into()))?;
    Ok(Generation {
        text: message.content.clone(),
        usage: reply.usage(),
    })
}

pub fn parse_stream_line(line: &str) -> Result<LineEvent, ProviderError> {
    if line.trim().is_empty() {
        return Ok(LineEvent::Skip);
    }
    let reply: Reply = serde_json::from_str(line)
        .map_err(|_| ProviderError::Failed("Ollama sent a streamed piece that could not be read.".into()))?;
    if let Some(err) = reply.failure() {
        return Err(err);
    }
    let mut chunks = Vec::new();
    if let Some(text) = reply
        .message
        .as_ref()
        .map(|m| m.content.clone())
        .filter(|t| !t.is_empty())
    {
        chunks.push(Chunk::Text(text));
    }
    if reply.done {
        chunks.push(Chunk::Usage(reply.usage()));
        return Ok(LineEvent::Done(chunks));
    }
    Ok(if chunks.is_empty() {
        LineEvent::Skip
    } else {
        LineEvent::Chunks(chunks)
    })
}

#[async_trait]
impl Provider for Ollama {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn is_available(&self) -> bool {
        self.host.is_some()
    }

    async fn unavailable_reason(&self, _model: &str) -> Option<String> {
        self.host.is_none().then(not_configured)
    }

    fn input_budget(&self, _model: &str) -> usize {
        // Ollama's default context window is 2048 tokens unless a model sets more.
        2_048
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        let response = self.post(&request, false).await?;
        let body = self.transport.body(response).await?;
        parse_reply(&body)
    }

    async fn stream(&self, request: GenerateRequest) -> Result<ChunkStream, ProviderError> {
        let response = self.post(&request, true).await?;
        Ok(decode_stream(lines(response, "Ollama"), "Ollama", parse_stream_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_errors() {
        let body = br#"{"model":"llama3","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi"},"done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":3}"#;
        let generation = parse_reply(body).unwrap();
        assert_eq!(
            (generation.text.as_str(), generation.usage),
            (
                "Hi",
                Usage {
                    prompt_tokens: 7,
                    completion_tokens: 3
                }
            )
        );
        let err =
            parse_reply(br#"{"error":"model 'x' not found, try pulling it first at /home/op/.ollama"}"#).unwrap_err();
        assert!(!err.to_string().contains("/home/op"));
        assert!(parse_reply(b"{\"done\":true}").is_err());
    }

    #[test]
    fn stream_lines() {
        let piece = r#"{"model":"llama3","message":{"role":"assistant","content":"The"},"done":false}"#;
        assert_eq!(
            parse_stream_line(piece).unwrap(),
            LineEvent::Chunks(vec![Chunk::Text("The".into())])
        );
        let last = r#"{"model":"llama3","message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":2,"eval_count":5}"#;
        assert_eq!(
            parse_stream_line(last).unwrap(),
            LineEvent::Done(vec![Chunk::Usage(Usage {
                prompt_tokens: 2,
                completion_tokens: 5
            })])
        );
        assert!(parse_stream_line(r#"{"error":"boom"}"#).is_err());
        assert!(parse_stream_line("{not json").is_err());
    }

    #[test]
    fn every_request_bounds_the_reply() {
        let mut request = GenerateRequest {
            model: "llama3".into(),
            turns: vec![crate::Turn::user("hi")],
            max_new_tokens: None,
        };
        let body = Ollama::body(&request, false);
        assert_eq!(body["options"]["num_predict"], crate::DEFAULT_MAX_REPLY_TOKENS);
        request.max_new_tokens = Some(9);
        assert_eq!(Ollama::body(&request, true)["options"]["num_predict"], 9);
    }

    #[tokio::test]
    async fn without_a_host_it_is_unavailable() {
        let ollama = Ollama::new(None, vec!["llama3".into()], Duration::from_secs(1));
        assert!(!ollama.is_available().await);
        let err = ollama
            .generate(GenerateRequest {
                model: "llama3".into(),
                turns: vec![],
                max_new_tokens: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Unavailable(_)));
    }
}
