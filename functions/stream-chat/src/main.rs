//! `POST /api/chats/stream/` and `POST /chat/streaming-response/{id}/`: send a
//! message and stream the reply (server-sent events; dialect E: plain text),
//! behind a Function URL with response streaming.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve_streaming("stream-chat").await
}
