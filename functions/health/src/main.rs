//! The `health` function: liveness and store reachability. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("health", chatbot_core::routes_of!("health")).await
}
