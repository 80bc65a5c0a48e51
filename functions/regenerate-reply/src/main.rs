//! `POST /api/chats/{chat_id}/regenerate/`: answer the chat's last user message again.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("regenerate-reply").await
}
