//! The `openai-api` function: OpenAI-compatible chat completions (streamed or whole) and model list. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve_streaming("openai-api", chatbot_core::routes_of!("openai-api")).await
}
