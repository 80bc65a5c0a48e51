//! The `edit-message` function: edit a message (answering it again, or as a new branch) and switch branches. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("edit-message", chatbot_core::routes_of!("edit-message")).await
}
