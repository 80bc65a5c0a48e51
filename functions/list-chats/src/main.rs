//! `GET /api/chats/`: the caller's chats, newest first, with their conversations.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::ListChats).await
}
