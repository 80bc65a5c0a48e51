//! `POST /api/login/`: exchange a username or email and password for a token.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::Login).await
}
