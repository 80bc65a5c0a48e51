//! `DELETE /api/me/`: delete the account with all its data.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::DeleteMe).await
}
