//! `POST /api/chats/stream/`: the reply as server-sent events while the model
//! writes it. `start` names the chat and the user's message, `delta`s carry text,
//! and `done` (or `error`) ends the stream. The reply is stored and billed when the
//! stream ends; a client that leaves mid-way leaves a partial reply, billed once.

use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

use super::chats::{end_session, parse_send, SendAsk};
use crate::conversation::{self, Begun};
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Output;
use crate::http::stream::{event, Sender, Streamed};
use crate::llm::{Choice, Chunk, ChunkStream, ProviderError, Usage};
use crate::state::AppState;
use crate::store::User;

pub async fn stream_chat(call: &Call<'_>) -> Result<Output, ApiError> {
    let ask = parse_send(call)?;
    let user = call.user()?.clone();
    let zone = call.display_zone()?;
    let (target, content, choice) = match ask {
        SendAsk::End(chat_id) => return end_session(call, &user, chat_id, zone).await.map(Output::Whole),
        SendAsk::Send {
            target,
            content,
            choice,
        } => (target, content, choice),
    };
    let state = call.state;
    let mut begun = conversation::begin(state, &user, target, content).await?;
    let stream = match conversation::open_stream(state, &begun.chat, &begun.user_message, &choice).await {
        Ok(stream) => stream,
        Err(err) => return Err(conversation::fail(state, &user, &mut begun, err).await),
    };
    let (sender, streamed) = Streamed::event_stream();
    tokio::spawn(relay(state.clone(), user, begun, choice, stream, sender));
    Ok(Output::Streamed(streamed))
}

/// How a streamed reply ended.
enum Ending {
    Complete,
    Failed(ProviderError),
    /// The client went away; what was written so far is kept.
    Left,
}

async fn relay(
    state: AppState,
    user: User,
    mut begun: Begun,
    choice: Choice,
    mut stream: ChunkStream,
    mut sender: Sender,
) {
    let start = json!({"chat_id": begun.chat.id, "message_id": begun.user_message.id, "created": begun.created});
    let mut ending = match sender.send_data(event("start", &start)).await {
        Ok(()) => Ending::Complete,
        Err(_) => Ending::Left,
    };
    let idle = Duration::from_secs(state.config.provider_timeout_secs);
    let mut text = String::new();
    let mut usage = Usage::default();
    while matches!(ending, Ending::Complete) {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(Chunk::Text(piece)))) => {
                text.push_str(&piece);
                if sender
                    .send_data(event("delta", &json!({ "text": piece })))
                    .await
                    .is_err()
                {
                    ending = Ending::Left;
                }
            }
            Ok(Some(Ok(Chunk::Usage(reported)))) => usage = reported,
            Ok(Some(Err(err))) => ending = Ending::Failed(err),
            Ok(None) => break,
            Err(_) => {
                ending = Ending::Failed(ProviderError::Timeout(format!(
                    "The model went silent for {} seconds.",
                    idle.as_secs()
                )))
            }
        }
    }
    // Stop the model at once if it is still writing.
    drop(stream);
    let last = match ending {
        Ending::Complete => finish(&state, &user, &mut begun, &choice, text, usage, false)
            .await
            .map(|done| ("done", done)),
        Ending::Left => {
            if let Err(err) = finish(&state, &user, &mut begun, &choice, text, usage, true).await {
                tracing::error!(error = %err, "storing a partial streamed reply failed");
            }
            return;
        }
        Ending::Failed(err) => {
            let err = conversation::provider_error(choice.provider.id(), err);
            Err(conversation::fail(&state, &user, &mut begun, err).await)
        }
    };
    let (name, data) = match last {
        Ok((name, data)) => (name, data),
        Err(err) => ("error", err.body()),
    };
    let _ = sender.send_data(event(name, &data)).await;
}

/// Stores the reply (whole or, when the client left, partial) and titles a new chat.
async fn finish(
    state: &AppState,
    user: &User,
    begun: &mut Begun,
    choice: &Choice,
    text: String,
    usage: Usage,
    partial: bool,
) -> Result<serde_json::Value, ApiError> {
    let reply = conversation::store_reply(state, &begun.chat, &begun.user_message, choice, text, partial).await?;
    conversation::title_new_chat(state, &mut begun.chat, choice, &begun.user_message.content).await?;
    let tokens_remaining = conversation::balance(state, user).await?;
    Ok(json!({
        "message_id": reply.id,
        "reply_to": begun.user_message.id,
        "chat_id": begun.chat.id,
        "usage": usage,
        "tokens_remaining": tokens_remaining,
    }))
}
