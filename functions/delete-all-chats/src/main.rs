//! The `delete-all-chats` function: delete every chat of the caller. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-all-chats", chatbot_core::routes_of!("delete-all-chats")).await
}
