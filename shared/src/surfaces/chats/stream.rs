//! `POST /api/chats/stream/`: the reply as server-sent events while the model
//! writes it. `start` names the chat and the user's message, `delta`s carry text,
//! and `done` (or `error`) ends the stream. The reply pipeline stores and bills it
//! when the stream ends; a client that leaves mid-way leaves a partial reply,
//! billed once.

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::conversation::reply::{self, Ask, Delivery, Job, Listener};
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Output;
use crate::http::stream::{event, Sender, Streamed};
use crate::surfaces::chats::chat::{end_session, parse_send, SendAsk};

pub async fn stream_chat(call: &Call<'_>) -> Result<Output, ApiError> {
    let ask = parse_send(call)?;
    let user = call.user()?;
    let zone = call.display_zone()?;
    let (target, content, choice) = match ask {
        SendAsk::End(chat_id) => return end_session(call, user, chat_id, zone).await.map(Output::Whole),
        SendAsk::Send {
            target,
            content,
            choice,
        } => (target, content, choice),
    };
    let job = Job {
        user: user.clone(),
        ask: Ask::Message { target, content },
        choice,
        max_new_tokens: None,
        key_id: call.api_key(),
    };
    let running = reply::prepare(&call.state.conversations(), job, Delivery::Streamed).await?;
    let start = match &running.stored {
        Some(stored) => json!({"chat_id": stored.chat.id, "message_id": stored.question.id, "created": stored.created}),
        None => json!({}),
    };
    let (sender, streamed) = Streamed::event_stream();
    let finished = streamed.finished.clone();
    tokio::spawn(async move {
        let mut events = Events { sender, start };
        let last = match running.finish(&mut events).await {
            Ok(replied) if replied.left => return,
            Ok(replied) => match replied.stored {
                Some(stored) => {
                    finished.mark();
                    let done = json!({
                        "message_id": stored.reply.id,
                        "reply_to": stored.question.id,
                        "chat_id": stored.chat.id,
                        "usage": replied.usage,
                        "tokens_remaining": stored.tokens_remaining,
                        // Cut at the time limit after text reached the client: kept and billed.
                        "partial": stored.reply.partial,
                    });
                    event("done", &done)
                }
                None => return,
            },
            Err(err) => event("error", &ApiError::from(err).body()),
        };
        // The client may have gone by now; nothing is left to tell it.
        let _ = events.sender.send_data(last).await;
    });
    Ok(Output::Streamed(streamed))
}

/// The canonical stream's events: `start`, then a `delta` per piece.
struct Events {
    sender: Sender,
    start: Value,
}

#[async_trait]
impl Listener for Events {
    async fn start(&mut self) -> bool {
        self.sender.send_data(event("start", &self.start)).await.is_ok()
    }

    async fn piece(&mut self, text: &str) -> bool {
        self.sender
            .send_data(event("delta", &json!({ "text": text })))
            .await
            .is_ok()
    }
}
