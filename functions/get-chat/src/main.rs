//! `GET /api/chats/{chat_id}/`: one chat with its conversation.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-chat").await
}
