//! The `send-chat` function: send a message and get the model's reply, or end the session. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("send-chat", chatbot_core::routes_of!("send-chat")).await
}
