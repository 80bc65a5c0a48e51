//! `POST /api/users/{username}/deactivate/`: deactivate a user (admins only).

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::DeactivateUser).await
}
