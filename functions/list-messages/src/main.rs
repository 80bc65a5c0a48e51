//! `GET /api/chats/{chat_id}/messages/`: a chat's messages, oldest first.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::ListMessages).await
}
