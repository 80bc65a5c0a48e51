//! `POST /api/logout/` and `POST /auth/logout/`: revoke the presented token (or all, with ?all=true).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("logout").await
}
