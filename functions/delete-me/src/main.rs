//! `DELETE /api/me/` and `DELETE /auth/delete/`: delete the account with all its data.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-me").await
}
