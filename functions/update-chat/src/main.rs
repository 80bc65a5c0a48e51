//! The `update-chat` function: rename a chat, or end or reopen it. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("update-chat", chatbot_core::routes_of!("update-chat")).await
}
