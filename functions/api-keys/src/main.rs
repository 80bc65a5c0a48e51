//! The `api-keys` function: create, list and revoke personal API keys. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("api-keys", chatbot_core::routes_of!("api-keys")).await
}
