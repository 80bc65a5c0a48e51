//! `PATCH /api/chats/{chat_id}/` and `PUT /chat/threads/{id}/update-title/`: rename a chat, or end or reopen it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("update-chat").await
}
