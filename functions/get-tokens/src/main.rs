//! `GET /api/tokens/`: the token balance.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("get-tokens").await
}
