//! The `logout` function: revoke the presented token (or all, with ?all=true). It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("logout", chatbot_core::routes_of!("logout")).await
}
