//! The `update-me` function: change email, time zone or password. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("update-me", chatbot_core::routes_of!("update-me")).await
}
