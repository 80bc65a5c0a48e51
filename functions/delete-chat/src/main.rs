//! `DELETE /api/chats/{chat_id}/`, `DELETE /chat/threads/{id}/delete/` and `POST /chat/threads/{id}/delete/`: delete one chat.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-chat").await
}
