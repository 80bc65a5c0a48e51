//! `PATCH /api/me/`: change email, time zone or password.

use chatbot_core::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve(Operation::UpdateMe).await
}
