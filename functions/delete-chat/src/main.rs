//! `DELETE /api/chats/{chat_id}/`: delete one chat.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-chat").await
}
