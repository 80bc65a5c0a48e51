//! Google's Generative Language API: `models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streaming, with the key in `x-goog-api-key`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use super::transport::{decode_stream, lines, roles, sse_data, LineEvent, Transport};
use crate::keys::KeyStore;
use crate::{Chunk, ChunkStream, GenerateRequest, Generation, Provider, ProviderError, Usage};

pub const PROVIDER_ID: &str = "gemini";
const KEY: &str = "GEMINI_API_KEY";

pub struct Gemini {
    transport: Transport,
    base_url: String,
    models: Vec<String>,
    keys: Arc<dyn KeyStore>,
}

impl Gemini {
    pub fn new(base_url: &str, models: Vec<String>, keys: Arc<dyn KeyStore>, timeout: Duration) -> Self {
        Self {
            transport: Transport::new("Gemini", timeout),
            base_url: base_url.to_string(),
            models,
            keys,
        }
    }

    fn body(request: &GenerateRequest) -> Value {
        let contents: Vec<Value> = roles(&request.turns, "user", "model")
            .map(|(role, text)| json!({"role": role, "parts": [{"text": text}]}))
            .collect();
        json!({
            "contents": contents,
            "generationConfig": { "maxOutputTokens": request.reply_tokens() },
        })
    }

    async fn post(&self, request: &GenerateRequest, stream: bool) -> Result<reqwest::Response, ProviderError> {
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let url = format!("{}/v1beta/models/{}:{method}", self.base_url, request.model);
        let body = Self::body(request);
        self.transport
            .send_with_key(self.keys.as_ref(), KEY, |client, key| {
                client.post(&url).header("x-goog-api-key", key).json(&body)
            })
            .await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<WireUsage>,
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

impl Response {
    fn text(&self) -> String {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|content| content.parts.iter().filter_map(|p| p.text.as_deref()).collect())
            .unwrap_or_default()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage_metadata.as_ref().map(|u| Usage {
            prompt_tokens: u.prompt_token_count,
            completion_tokens: u.candidates_token_count,
        })
    }

    fn blocked(&self) -> Option<ProviderError> {
        let reason = self.prompt_feedback.as_ref()?.block_reason.as_deref()?;
        self.candidates
            .is_empty()
            .then(|| ProviderError::Failed(format!("Gemini declined to answer (blocked: {reason}).")))
    }
}

/// Reads a whole `generateContent` answer.
pub fn parse_response(body: &[u8]) -> Result<Generation, ProviderError> {
    let malformed = || ProviderError::Failed("Gemini sent an answer that could not be read.".into());
    let response: Response = serde_json::from_slice(body).map_err(|_| malformed())?;
    if let Some(blocked) = response.blocked() {
        return Err(blocked);
    }
    if response.candidates.is_empty() {
        return Err(malformed());
    }
    Ok(Generation {
        text: response.text(),
        usage: response.usage().unwrap_or_default(),
    })
}

/// Reads one SSE line of `streamGenerateContent`. Gemini sends no end marker; the
/// candidate's `finishReason` on the last piece is it.
pub fn parse_stream_line(line: &str) -> Result<LineEvent, ProviderError> {
    let Some(data) = sse_data(line) else {
        return Ok(LineEvent::Skip);
    };
    let response: Response = serde_json::from_str(data)
        .map_err(|_| ProviderError::Failed("Gemini sent a streamed piece that could not be read.".into()))?;
    if let Some(blocked) = response.blocked() {
        return Err(blocked);
    }
    let mut chunks = Vec::new();
    let text = response.text();
    if !text.is_empty() {
        chunks.push(Chunk::Text(text));
    }
    let finished = response.candidates.first().is_some_and(|c| c.finish_reason.is_some());
    if finished {
        if let Some(usage) = response.usage() {
            chunks.push(Chunk::Usage(usage));
        }
        return Ok(LineEvent::Done(chunks));
    }
    Ok(if chunks.is_empty() {
        LineEvent::Skip
    } else {
        LineEvent::Chunks(chunks)
    })
}

#[async_trait]
impl Provider for Gemini {
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
        32_000
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        let response = self.post(&request, false).await?;
        let body = self.transport.body(response).await?;
        parse_response(&body)
    }

    async fn stream(&self, request: GenerateRequest) -> Result<ChunkStream, ProviderError> {
        let response = self.post(&request, true).await?;
        Ok(decode_stream(lines(response, "Gemini"), "Gemini", parse_stream_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Turn;

    #[test]
    fn requests_use_gemini_roles() {
        let request = GenerateRequest {
            model: "gemini-1.5-flash".into(),
            turns: vec![Turn::user("hi"), Turn::assistant("hello")],
            max_new_tokens: None,
        };
        let body = Gemini::body(&request);
        assert_eq!(
            body["contents"][1],
            json!({"role": "model", "parts": [{"text": "hello"}]})
        );
        // A request that names no bound still sends one.
        assert_eq!(
            body["generationConfig"]["maxOutputTokens"],
            crate::DEFAULT_MAX_REPLY_TOKENS
        );
        let body = Gemini::body(&GenerateRequest {
            max_new_tokens: Some(7),
            ..request
        });
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 7);
    }

    #[test]
    fn answers_blocks_and_garbage() {
        let body = br#"{"candidates":[{"content":{"parts":[{"text":"Hello"},{"text":" there"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6}}"#;
        let generation = parse_response(body).unwrap();
        assert_eq!(generation.text, "Hello there");
        assert_eq!(
            generation.usage,
            Usage {
                prompt_tokens: 4,
                completion_tokens: 2
            }
        );
        let blocked = parse_response(br#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap_err();
        assert!(blocked.to_string().contains("SAFETY"));
        assert!(parse_response(b"{}").is_err());
        assert!(parse_response(b"not json").is_err());
    }

    #[test]
    fn stream_lines_end_at_the_finish_reason() {
        let piece = r#"data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}"#;
        assert_eq!(
            parse_stream_line(piece).unwrap(),
            LineEvent::Chunks(vec![Chunk::Text("Hel".into())])
        );
        let last = r#"data: {"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}"#;
        assert_eq!(
            parse_stream_line(last).unwrap(),
            LineEvent::Done(vec![
                Chunk::Text("lo".into()),
                Chunk::Usage(Usage {
                    prompt_tokens: 1,
                    completion_tokens: 2
                })
            ])
        );
        assert_eq!(parse_stream_line("").unwrap(), LineEvent::Skip);
        assert!(parse_stream_line("data: [1,2").is_err());
    }
}
