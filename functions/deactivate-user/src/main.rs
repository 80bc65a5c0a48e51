//! `POST /api/users/{username}/deactivate/` and `POST /auth/deactivate/{username}/`: deactivate a user (admins only).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("deactivate-user").await
}
