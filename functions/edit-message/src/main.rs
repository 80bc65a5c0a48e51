//! `PATCH /api/chats/{chat_id}/messages/{message_id}/`: edit a message, optionally answering it again.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("edit-message").await
}
