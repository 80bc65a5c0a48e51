//! The `delete-me` function: delete the account with all its data. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-me", chatbot_core::routes_of!("delete-me")).await
}
