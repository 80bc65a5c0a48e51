//! `GET /api/models/`: every provider/model and whether it is available.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("list-models").await
}
