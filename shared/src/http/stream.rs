//! Responses written while they are produced: server-sent events for streamed
//! replies, over Lambda response streaming (a Function URL in AWS).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use lambda_http::lambda_runtime::streaming;
use serde_json::Value;

pub use streaming::{Body as StreamBody, Sender};

/// A streamed answer: status and headers now, the body as it comes.
pub struct Streamed {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: StreamBody,
    /// Marked by the stream's writer once the answer it wrote is whole and final
    /// (the reply delivered and paid for), before it ends the stream. A stream
    /// that ends unmarked (an `error` event) is no answer to replay.
    pub finished: Finished,
}

/// Whether a stream's writer finished its answer: see [`Streamed::finished`].
#[derive(Clone, Debug, Default)]
pub struct Finished(Arc<AtomicBool>);

impl Finished {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_marked(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl Streamed {
    /// An event stream and the sender that writes it.
    pub fn event_stream() -> (Sender, Self) {
        let (sender, body) = streaming::channel();
        let headers = vec![
            ("content-type", "text/event-stream".to_string()),
            ("cache-control", "no-cache".to_string()),
            // Proxies must pass each event on at once.
            ("x-accel-buffering", "no".to_string()),
        ];
        (
            sender,
            Self {
                status: StatusCode::OK,
                headers,
                body,
                finished: Finished::default(),
            },
        )
    }
}

impl Streamed {
    /// A plain text stream (dialect E's reply, piece by piece) and its sender.
    pub fn text_stream() -> (Sender, Self) {
        let (sender, body) = streaming::channel();
        let headers = vec![
            ("content-type", "text/plain; charset=utf-8".to_string()),
            ("cache-control", "no-cache".to_string()),
            ("x-accel-buffering", "no".to_string()),
        ];
        (
            sender,
            Self {
                status: StatusCode::OK,
                headers,
                body,
                finished: Finished::default(),
            },
        )
    }
}

/// One server-sent event: `event: NAME` and its JSON `data`.
pub fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// One `data:`-only event, as OpenAI's stream format has them.
pub fn data(payload: &str) -> Bytes {
    Bytes::from(format!("data: {payload}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed() {
        assert_eq!(
            event("delta", &serde_json::json!({"text": "hi"})),
            Bytes::from("event: delta\ndata: {\"text\":\"hi\"}\n\n")
        );
        assert_eq!(data("[DONE]"), Bytes::from("data: [DONE]\n\n"));
    }
}
