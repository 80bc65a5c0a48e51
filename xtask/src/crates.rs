//! The crate of a function that has none yet: a manifest and a `main` that serves
//! the function's routes (chosen from the table at compile time), shaped like the
//! existing ones. Existing crates are never
//! rewritten (a hand-edited `main` stays); `cargo xtask check` reports missing ones.

use chatbot_core::routes::{Function, FALLBACK_FUNCTION};

/// `(path in the crate, contents)` of each file of `function`'s crate.
pub fn render(function: &Function) -> Vec<(&'static str, String)> {
    vec![("Cargo.toml", manifest(function)), ("src/main.rs", main(function))]
}

fn manifest(function: &Function) -> String {
    let name = function.name;
    let description = function.description.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"[package]
name = "{name}"
description = "{description}."
version.workspace = true
edition.workspace = true
license.workspace = true
publish = false

# SQLite only where a local run asks for it (infra/run-local.sh passes
# `--features sqlite`), so a deployed binary links DynamoDB alone.
[features]
sqlite = ["chatbot-core/sqlite"]

[dependencies]
chatbot-core.workspace = true
lambda_http.workspace = true
tokio.workspace = true

# A thin main with no tests of its own: a test harness for it would only link
# the whole core once more (hundreds of MB of build output for nothing).
[[bin]]
name = "{name}"
path = "src/main.rs"
test = false
"#
    )
}

/// The crate's doc names the function, not its routes: a route added to an
/// existing function is one table entry, and its crate stays as it is.
fn main(function: &Function) -> String {
    let serve = if function.streams { "serve_streaming" } else { "serve" };
    // The fallback answers any path with a 404 or a 405 naming the methods the
    // table allows: it looks in the whole table's paths, without any handler. Every
    // other function gets only its own routes, so its binary links only their handlers.
    let routes = if function.name == FALLBACK_FUNCTION {
        "&chatbot_core::routes::ROUTE_PATHS".to_string()
    } else {
        format!("chatbot_core::routes_of!(\"{}\")", function.name)
    };
    format!(
        r#"//! The `{name}` function: {}. It serves the routes that name it in the
//! route table (`shared/src/routes/table.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {{
    chatbot_core::lambda::{serve}("{name}", {routes}).await
}}
"#,
        sentence_case(function.description),
        name = function.name
    )
}

/// "The caller's profile" → "the caller's profile", for the middle of a sentence;
/// a word with capitals inside ("OpenAI-compatible") stays as it is.
fn sentence_case(text: &str) -> String {
    let first_word = text.split(' ').next().unwrap_or_default();
    if first_word.chars().skip(1).any(|c| c.is_uppercase()) {
        return text.to_string();
    }
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}
