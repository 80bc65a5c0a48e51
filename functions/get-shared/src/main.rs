//! The `get-shared` function: a shared chat's snapshot, read without signing in. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-shared", chatbot_core::routes_of!("get-shared")).await
}
