//! The `regenerate-reply` function: answer the chat's last user message again. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("regenerate-reply", chatbot_core::routes_of!("regenerate-reply")).await
}
