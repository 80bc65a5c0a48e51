//! `PATCH /api/chats/{chat_id}/messages/{message_id}/`: edit a message, optionally answering it again.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::EditMessage).await
}
