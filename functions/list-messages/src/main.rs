//! `GET /api/chats/{chat_id}/messages/` and `GET /chat/threads/{id}/messages/`: a chat's messages, oldest first.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("list-messages").await
}
