//! `POST /api/chats/stream/`: send a message and stream the reply as server-sent
//! events, behind a Function URL with response streaming.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve_streaming("stream-chat").await
}
