//! The `get-chat` function: one chat with its conversation. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-chat", chatbot_core::routes_of!("get-chat")).await
}
