//! The `stream-chat` function: send a message and stream the reply: server-sent events, or plain text for dialect E. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve_streaming("stream-chat", chatbot_core::routes_of!("stream-chat")).await
}
