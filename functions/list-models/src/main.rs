//! The `list-models` function: every provider/model and whether it is available. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("list-models", chatbot_core::routes_of!("list-models")).await
}
