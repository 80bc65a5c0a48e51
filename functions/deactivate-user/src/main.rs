//! `POST /api/users/{username}/deactivate/`: deactivate a user (admins only).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("deactivate-user").await
}
