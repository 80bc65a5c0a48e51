//! `POST /chat/threads/new/`: create an empty chat (dialects B and E).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("create-chat").await
}
