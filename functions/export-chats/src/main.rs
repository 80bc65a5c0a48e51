//! The `export-chats` function: the caller's chats with their trees, as one document. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("export-chats", chatbot_core::routes_of!("export-chats")).await
}
