//! `POST /api/chats/` and `POST /chat/response/{id}/`: send a message and get the model's reply, or end the session.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("send-chat").await
}
