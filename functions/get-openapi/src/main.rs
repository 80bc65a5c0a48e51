//! `GET /api/openapi.json`: this document.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-openapi").await
}
