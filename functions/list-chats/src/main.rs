//! `GET /api/chats/` and `GET /chat/threads/`: the caller's chats, newest first, with their conversations.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("list-chats").await
}
