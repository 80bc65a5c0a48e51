//! `POST /api/chats/{chat_id}/regenerate/`: answer the chat's last user message again.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::Regenerate).await
}
