//! The `login` function: exchange a username or email and password for a token. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("login", chatbot_core::routes_of!("login")).await
}
