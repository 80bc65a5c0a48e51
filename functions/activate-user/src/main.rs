//! The `activate-user` function: reactivate a user (admins only). It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("activate-user", chatbot_core::routes_of!("activate-user")).await
}
