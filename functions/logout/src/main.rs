//! `POST /api/logout/`: revoke the presented token (or all, with ?all=true).

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::Logout).await
}
