//! The `get-me` function: the caller's profile. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-me", chatbot_core::routes_of!("get-me")).await
}
