//! The `create-chat` function: create an empty chat (dialects B and E). It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("create-chat", chatbot_core::routes_of!("create-chat")).await
}
