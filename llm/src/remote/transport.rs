//! HTTP to remote model providers: one client, bounded retries with jittered
//! backoff on 429/5xx/connect errors (honouring `Retry-After`), every failure
//! mapped to the API's 502/503/504, and line framing for streamed answers.

use futures::stream::{BoxStream, StreamExt};
use rand_core::{OsRng, RngCore};
use reqwest::{RequestBuilder, Response, StatusCode};
use std::sync::OnceLock;
use std::time::Duration;

use crate::ProviderError;

/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 3;
const BASE_DELAY: Duration = Duration::from_millis(250);
/// A `Retry-After` longer than this is not waited for: the request fails instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Transport {
    /// Built on first use: a function that never calls this provider never
    /// builds an HTTP client (TLS roots included) for it.
    client: OnceLock<reqwest::Client>,
    timeout: Duration,
    /// The provider's name in messages to clients.
    pub provider: &'static str,
}

/// A non-success answer, kept apart from transport errors so the caller can react
/// to 401 (refresh the key) before the status becomes a client error.
#[derive(Debug)]
pub enum CallError {
    Status(StatusCode),
    Provider(ProviderError),
}

impl Transport {
    pub fn new(provider: &'static str, timeout: Duration) -> Self {
        Self {
            client: OnceLock::new(),
            timeout,
            provider,
        }
    }

    /// The HTTP client, built on the first call.
    pub fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(5).min(self.timeout))
                .user_agent(concat!("chatbot-api/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("an HTTP client with rustls builds")
        })
    }

    /// Whether the HTTP client has been built yet.
    pub fn is_client_built(&self) -> bool {
        self.client.get().is_some()
    }

    /// Sends the request built by `build`, retrying transient failures. Answers the
    /// successful response, or why there was none.
    pub async fn send(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> Result<Response, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= MAX_ATTEMPTS;
            match build(self.client()).send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(&response);
                    let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !transient || last || wait.is_some_and(|w| w > MAX_RETRY_AFTER) {
                        tracing::warn!(
                            provider = self.provider,
                            status = status.as_u16(),
                            attempt,
                            "provider answered an error"
                        );
                        return Err(CallError::Status(status));
                    }
                    tokio::time::sleep(wait.unwrap_or_else(|| backoff(attempt))).await;
                }
                Err(err) if err.is_timeout() => {
                    return Err(CallError::Provider(ProviderError::Timeout(format!(
                        "{} did not answer in time.",
                        self.provider
                    ))))
                }
                Err(err) if (err.is_connect() || err.is_request()) && !last => {
                    tracing::warn!(provider = self.provider, attempt, error = %err, "provider unreachable; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => {
                    tracing::warn!(provider = self.provider, error = %err, "provider unreachable");
                    return Err(CallError::Provider(ProviderError::Unavailable(format!(
                        "Could not reach {}.",
                        self.provider
                    ))));
                }
            }
        }
    }

    /// The client's error for a provider's non-success status.
    pub fn status_error(&self, status: StatusCode) -> ProviderError {
        let provider = self.provider;
        match status.as_u16() {
            401 | 403 => ProviderError::Failed(format!("{provider} rejected the API key.")),
            404 => ProviderError::Failed(format!("{provider} does not offer that model.")),
            429 => ProviderError::Unavailable(format!("{provider} is limiting requests; try again later.")),
            503 => ProviderError::Unavailable(format!("{provider} is unavailable; try again later.")),
            504 => ProviderError::Timeout(format!("{provider} timed out.")),
            code => ProviderError::Failed(format!("{provider} failed (HTTP {code}).")),
        }
    }

    /// Reads a whole answer, mapping a cut connection to a 502.
    pub async fn body(&self, response: Response) -> Result<Vec<u8>, ProviderError> {
        response.bytes().await.map(|b| b.to_vec()).map_err(|err| {
            if err.is_timeout() {
                ProviderError::Timeout(format!("{} did not finish its answer in time.", self.provider))
            } else {
                ProviderError::Failed(format!("{} broke off its answer.", self.provider))
            }
        })
    }

    /// The malformed-answer error.
    pub fn malformed(&self) -> ProviderError {
        ProviderError::Failed(format!("{} sent an answer that could not be read.", self.provider))
    }
}

/// Exponential backoff with full jitter: somewhere in `[d/2, d]` for `d = base·2^(n-1)`.
fn backoff(attempt: u32) -> Duration {
    let full = BASE_DELAY * 2u32.saturating_pow(attempt.saturating_sub(1));
    let jitter = f64::from(OsRng.next_u32()) / f64::from(u32::MAX);
    full.mul_f64(0.5 + jitter / 2.0)
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and ignored).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The lines of a streamed answer (SSE or NDJSON), as they arrive. A connection
/// cut mid-line or mid-stream ends with an error item.
pub fn lines(response: Response, provider: &'static str) -> BoxStream<'static, Result<String, ProviderError>> {
    let state = (response.bytes_stream().boxed(), Vec::<u8>::new(), false);
    futures::stream::unfold(state, move |(mut bytes, mut buffer, mut ended)| async move {
        loop {
            if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                return Some((Ok(text), (bytes, buffer, ended)));
            }
            if ended {
                if buffer.is_empty() {
                    return None;
                }
                let text = String::from_utf8_lossy(&buffer).trim_end().to_string();
                buffer.clear();
                return Some((Ok(text), (bytes, buffer, ended)));
            }
            match bytes.next().await {
                Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                Some(Err(err)) => {
                    let error = if err.is_timeout() {
                        ProviderError::Timeout(format!("{provider} stopped streaming in time."))
                    } else {
                        ProviderError::Failed(format!("{provider} broke off its streamed answer."))
                    };
                    buffer.clear();
                    ended = true;
                    return Some((Err(error), (bytes, buffer, ended)));
                }
                None => ended = true,
            }
        }
    })
    .boxed()
}

/// The payload of an SSE `data:` line; `None` for other lines (events, comments,
/// blank separators).
pub fn sse_data(line: &str) -> Option<&str> {
    line.strip_prefix("data:")
        .map(|rest| rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_jittered() {
        for attempt in 1..=3 {
            let full = BASE_DELAY * 2u32.pow(attempt - 1);
            let d = backoff(attempt);
            assert!(d >= full / 2 && d <= full, "{d:?} for attempt {attempt}");
        }
    }

    #[test]
    fn sse_data_lines() {
        assert_eq!(sse_data("data: {\"a\":1}"), Some("{\"a\":1}"));
        assert_eq!(sse_data("data:[DONE]"), Some("[DONE]"));
        assert_eq!(sse_data("event: ping"), None);
        assert_eq!(sse_data(": keep-alive"), None);
    }

    #[test]
    fn the_client_is_built_on_first_use_only() {
        let t = Transport::new("OpenAI", Duration::from_secs(1));
        assert!(!t.is_client_built());
        let first: *const reqwest::Client = t.client();
        assert!(t.is_client_built());
        assert!(std::ptr::eq(first, t.client()), "built once, then reused");
    }

    #[test]
    fn statuses_map_to_gateway_errors() {
        let t = Transport::new("OpenAI", Duration::from_secs(1));
        assert!(matches!(
            t.status_error(StatusCode::UNAUTHORIZED),
            ProviderError::Failed(_)
        ));
        assert!(matches!(
            t.status_error(StatusCode::TOO_MANY_REQUESTS),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            t.status_error(StatusCode::INTERNAL_SERVER_ERROR),
            ProviderError::Failed(_)
        ));
        assert!(matches!(
            t.status_error(StatusCode::GATEWAY_TIMEOUT),
            ProviderError::Timeout(_)
        ));
    }
}

/// What one line of a streamed answer says.
#[derive(Debug, PartialEq, Eq)]
pub enum LineEvent {
    /// Nothing for the client (a keep-alive, an event name, an empty delta).
    Skip,
    Chunks(Vec<crate::Chunk>),
    /// The provider's end-of-answer marker, with any last chunks.
    Done(Vec<crate::Chunk>),
}

/// Turns a provider's lines into reply chunks with `parse`. An answer that stops
/// before the provider's end marker ends with an error: the reply is incomplete.
pub fn decode_stream(
    lines: BoxStream<'static, Result<String, ProviderError>>,
    provider: &'static str,
    parse: fn(&str) -> Result<LineEvent, ProviderError>,
) -> crate::ChunkStream {
    use std::collections::VecDeque;
    let state = (lines, VecDeque::new(), false);
    futures::stream::unfold(state, move |(mut lines, mut pending, mut finished)| async move {
        loop {
            if let Some(chunk) = pending.pop_front() {
                return Some((Ok(chunk), (lines, pending, finished)));
            }
            if finished {
                return None;
            }
            match lines.next().await {
                Some(Ok(line)) => match parse(&line) {
                    Ok(LineEvent::Skip) => {}
                    Ok(LineEvent::Chunks(chunks)) => pending.extend(chunks),
                    Ok(LineEvent::Done(chunks)) => {
                        pending.extend(chunks);
                        finished = true;
                    }
                    Err(err) => {
                        finished = true;
                        return Some((Err(err), (lines, pending, finished)));
                    }
                },
                Some(Err(err)) => {
                    finished = true;
                    return Some((Err(err), (lines, pending, finished)));
                }
                None => {
                    finished = true;
                    let err = ProviderError::Failed(format!("{provider} ended its streamed answer early."));
                    return Some((Err(err), (lines, pending, finished)));
                }
            }
        }
    })
    .boxed()
}

impl Transport {
    /// What a client is told when the key `name` is not set: a sentence for a missing key, which names no setting: the log
    /// tells the operator which key to put where.
    pub fn missing_key(&self, name: &str) -> String {
        tracing::warn!(
            provider = self.provider,
            key = name,
            "provider key missing: put it in the SECRET_ID secret (or the environment without one)"
        );
        format!("{} is not configured on this server.", self.provider)
    }

    /// `send` with the API key `name`: a missing key is a 503 naming the setting,
    /// and a 401/403 re-reads the keys once and retries if the key changed (it was
    /// rotated since this container read it).
    pub async fn send_with_key(
        &self,
        keys: &dyn crate::keys::KeyStore,
        name: &str,
        build: impl Fn(&reqwest::Client, &str) -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let missing = || ProviderError::Unavailable(self.missing_key(name));
        let key = keys.get(name).await.ok_or_else(missing)?;
        match self.send(|client| build(client, &key)).await {
            Ok(response) => Ok(response),
            Err(CallError::Status(status)) if matches!(status.as_u16(), 401 | 403) => {
                keys.refresh().await;
                match keys.get(name).await {
                    Some(fresh) if fresh != key => match self.send(|client| build(client, &fresh)).await {
                        Ok(response) => Ok(response),
                        Err(CallError::Status(status)) => Err(self.status_error(status)),
                        Err(CallError::Provider(err)) => Err(err),
                    },
                    _ => Err(self.status_error(status)),
                }
            }
            Err(CallError::Status(status)) => Err(self.status_error(status)),
            Err(CallError::Provider(err)) => Err(err),
        }
    }

    /// `send` without a key (Ollama).
    pub async fn send_open(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        match self.send(build).await {
            Ok(response) => Ok(response),
            Err(CallError::Status(status)) => Err(self.status_error(status)),
            Err(CallError::Provider(err)) => Err(err),
        }
    }
}

/// Turns our turns into `(role, text)` pairs with the provider's role names.
pub fn roles<'a>(
    turns: &'a [crate::Turn],
    user: &'static str,
    assistant: &'static str,
) -> impl Iterator<Item = (&'static str, &'a str)> {
    turns.iter().map(move |t| {
        let role = match t.role {
            crate::Role::User => user,
            crate::Role::Assistant => assistant,
        };
        (role, t.content.as_str())
    })
}
