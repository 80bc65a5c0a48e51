//! The `route-fallback` function: answer unmatched routes: 404, or 405 with Allow. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("route-fallback", &chatbot_core::routes::ROUTE_PATHS).await
}
