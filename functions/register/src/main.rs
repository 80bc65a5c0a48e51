//! The `register` function: create an account and get a token. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("register", chatbot_core::routes_of!("register")).await
}
