//! `GET /api/me/` and `GET /auth/status/`: the caller's profile.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-me").await
}
