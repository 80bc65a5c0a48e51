//! The `web-page` function: the web chat page and its files. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("web-page", chatbot_core::routes_of!("web-page")).await
}
