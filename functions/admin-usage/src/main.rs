//! The `admin-usage` function: every user's usage totals (admins only). It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatbot_core::lambda::serve("admin-usage", chatbot_core::routes_of!("admin-usage")).await
}
