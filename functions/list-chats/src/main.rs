//! The `list-chats` function: the caller's chats, newest first, with their conversations. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("list-chats", chatbot_core::routes_of!("list-chats")).await
}
