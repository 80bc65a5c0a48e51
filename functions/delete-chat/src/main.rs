//! `DELETE /api/chats/{chat_id}/`: delete one chat.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::DeleteChat).await
}
