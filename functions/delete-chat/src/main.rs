//! The `delete-chat` function: delete one chat. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("delete-chat", chatbot_core::routes_of!("delete-chat")).await
}
