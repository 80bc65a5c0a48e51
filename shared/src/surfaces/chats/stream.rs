//! `POST /api/chats/stream/`: the reply as server-sent events while the model
//! writes it. `start` names the chat and the user's message, `delta`s carry text,
//! and `done` (or `error`) ends the stream. The reply pipeline stores and bills it
//! when the stream ends; a client that leaves mid-way leaves a partial reply,
//! billed once.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::conversation::reply::{self, Delivery, Replied};
use crate::conversation::ChatError;
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Output;
use crate::http::stream::{event, stream_reply, Ending, Framing};
use crate::surfaces::chats::chat::{end_session, parse_send, SendAsk};

pub async fn stream_chat(call: &Call<'_>) -> Result<Output, ApiError> {
    let ask = parse_send(call)?;
    let zone = call.display_zone()?;
    let job = match ask {
        SendAsk::End(chat_id) => return end_session(call, call.user()?, chat_id, zone).await.map(Output::Whole),
        SendAsk::Send(job) => *job,
    };
    let running = reply::prepare(&call.state.conversations(), job, Delivery::Streamed).await?;
    let start = match &running.stored {
        Some(stored) => json!({"chat_id": stored.chat.id, "message_id": stored.question.id, "created": stored.created}),
        None => json!({}),
    };
    Ok(stream_reply(running, Events { start }))
}

/// The canonical stream's events: `start`, a `delta` per piece, then `done` with
/// the stored reply or `error` with the error body.
struct Events {
    start: Value,
}

impl Framing for Events {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn opening(&self) -> Option<Bytes> {
        Some(event("start", &self.start))
    }

    fn piece(&self, text: &str) -> Bytes {
        event("delta", &json!({ "text": text }))
    }

    fn ending(&self, outcome: Result<Replied, ChatError>) -> Ending {
        match outcome {
            Ok(Replied {
                stored: Some(stored),
                usage,
                ..
            }) => Ending::Finished(vec![event(
                "done",
                &json!({
                    "message_id": stored.reply.id,
                    "reply_to": stored.question.id,
                    "chat_id": stored.chat.id,
                    "usage": usage,
                    "tokens_remaining": stored.tokens_remaining,
                    // Cut at the time limit after text reached the client: kept and billed.
                    "partial": stored.reply.partial,
                }),
            )]),
            // A chat's reply is always stored; nothing else to say.
            Ok(_) => Ending::Failed(Vec::new()),
            Err(err) => Ending::Failed(vec![event("error", &ApiError::from(err).body())]),
        }
    }
}
