//! Every unmatched method and path: answer unmatched routes: 404, or 405 with Allow.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("route-fallback").await
}
