//! `GET /api/chats/{chat_id}/`: one chat with its conversation.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::GetChat).await
}
