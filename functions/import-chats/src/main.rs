//! The `import-chats` function: new chats from an export or a ChatGPT conversations.json. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("import-chats", chatbot_core::routes_of!("import-chats")).await
}
