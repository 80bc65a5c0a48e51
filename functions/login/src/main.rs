//! `POST /api/login/` and `POST /auth/login/`: exchange a username or email and password for a token.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("login").await
}
