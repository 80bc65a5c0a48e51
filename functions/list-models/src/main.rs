//! `GET /api/models/`: every provider/model and whether it is available.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::ListModels).await
}
