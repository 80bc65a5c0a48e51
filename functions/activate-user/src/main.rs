//! `POST /api/users/{username}/activate/`: reactivate a user (admins only).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("activate-user").await
}
