//! The `edit-message` function: edit a message, optionally answering it again. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("edit-message").await
}
