//! The `list-messages` function: a chat's messages, oldest first. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("list-messages", chatbot_core::routes_of!("list-messages")).await
}
