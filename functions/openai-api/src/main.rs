//! `POST /v1/chat/completions` and `GET /v1/models`: the OpenAI-compatible API,
//! behind one Function URL (an OpenAI client takes one base URL) with response
//! streaming for `stream: true`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve_streaming("openai-api").await
}
