//! `DELETE /api/chats/` and `DELETE /chat/threads/delete/`: delete every chat of the caller.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-all-chats").await
}
