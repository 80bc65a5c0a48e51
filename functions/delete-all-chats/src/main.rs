//! `DELETE /api/chats/`: delete every chat of the caller.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::DeleteAllChats).await
}
