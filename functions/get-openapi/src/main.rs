//! `GET /api/openapi.json`: this document.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::OpenApi).await
}
