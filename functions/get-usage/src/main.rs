//! The `get-usage` function: the caller's usage by day, model and API key. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-usage", chatbot_core::routes_of!("get-usage")).await
}
