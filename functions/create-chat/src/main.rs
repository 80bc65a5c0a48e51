//! `POST /api/conversations/create/`: start an empty chat (dialect B's conversations).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("create-chat").await
}
