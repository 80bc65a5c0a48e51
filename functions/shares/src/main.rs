//! The `shares` function: create, list and revoke share links. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("shares", chatbot_core::routes_of!("shares")).await
}
