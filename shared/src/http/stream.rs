//! Responses written while they are produced, over Lambda response streaming (a
//! Function URL in AWS): the one scaffold every surface streams a reply with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use lambda_http::lambda_runtime::streaming;
use serde_json::Value;

use crate::conversation::reply::{Listener, Replied, Running};
use crate::conversation::ChatError;
use crate::http::reply::Output;

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
    /// A stream of `content_type` and the sender that writes it; caches and proxies
    /// must pass each piece on at once.
    fn open(content_type: &str) -> (Sender, Self) {
        let (sender, body) = streaming::channel();
        let headers = vec![
            ("content-type", content_type.to_string()),
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

/// How a surface frames a streamed reply: the canonical server-sent events, the
/// OpenAI chunks, dialect E's bare text. The one scaffold, [`stream_reply`], runs
/// the reply pipeline and writes what the framing says.
pub trait Framing: Send + 'static {
    /// The stream's media type.
    const CONTENT_TYPE: &'static str;

    /// What precedes the first piece, if anything.
    fn opening(&self) -> Option<Bytes> {
        None
    }

    /// One piece of the reply as the client reads it.
    fn piece(&self, text: &str) -> Bytes;

    /// The end of a reply whose client stayed: how the stream closes.
    fn ending(&self, outcome: Result<Replied, ChatError>) -> Ending;
}

/// How a stream closes.
pub enum Ending {
    /// The answer is whole and final (stored or delivered, and paid for): these
    /// frames close it, and the stream may be replayed for its Idempotency-Key.
    Finished(Vec<Bytes>),
    /// The answer failed: these frames say so (an error event).
    Failed(Vec<Bytes>),
    /// The answer failed and the framing cannot say so in-band: the stream is
    /// aborted, so the client's read fails instead of taking a cut reply for whole.
    Abort,
}

/// Streams `running`'s reply framed by `framing`: the status and headers now, the
/// pieces as the model writes them, then the framing's ending. A client that
/// leaves is told nothing more (the pipeline keeps and bills what reached it).
pub fn stream_reply<F: Framing>(running: Running, framing: F) -> Output {
    let (sender, streamed) = Streamed::open(F::CONTENT_TYPE);
    let finished = streamed.finished.clone();
    tokio::spawn(async move {
        let mut framed = Framed { sender, framing };
        let outcome = running.finish(&mut framed).await;
        if outcome.as_ref().is_ok_and(|replied| replied.left) {
            return;
        }
        let Framed { mut sender, framing } = framed;
        let frames = match framing.ending(outcome) {
            Ending::Finished(frames) => {
                finished.mark();
                frames
            }
            Ending::Failed(frames) => frames,
            Ending::Abort => {
                sender.abort();
                return;
            }
        };
        for frame in frames {
            // The client may have gone by now; nothing is left to tell it.
            if sender.send_data(frame).await.is_err() {
                return;
            }
        }
    });
    Output::Streamed(streamed)
}

/// The pipeline's listener for a framed stream: each piece, framed, to the client.
struct Framed<F> {
    sender: Sender,
    framing: F,
}

#[async_trait]
impl<F: Framing> Listener for Framed<F> {
    async fn start(&mut self) -> bool {
        match self.framing.opening() {
            Some(opening) => self.sender.send_data(opening).await.is_ok(),
            None => true,
        }
    }

    async fn piece(&mut self, text: &str) -> bool {
        self.sender.send_data(self.framing.piece(text)).await.is_ok()
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
