//! `GET /api/health/`: liveness and store reachability.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("health").await
}
