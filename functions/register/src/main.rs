//! `POST /api/register/` and `POST /auth/register/`: create an account and get a token.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("register").await
}
