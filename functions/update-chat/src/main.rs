//! `PATCH /api/chats/{chat_id}/`: rename a chat, or end or reopen it.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::UpdateChat).await
}
