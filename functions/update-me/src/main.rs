//! `PATCH /api/me/`: change email, time zone or password.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("update-me").await
}
