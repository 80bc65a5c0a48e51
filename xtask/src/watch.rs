//! The `cargo lambda watch` router (`[workspace.metadata.lambda.watch.router]` in
//! the root Cargo.toml): every route's path in both slash forms, its methods to
//! their functions and the other methods to the fallback (405, CORS preflights),
//! then every other path to the fallback (404). Streaming routes are here too:
//! locally one server answers everything.

use chatbot_core::routes::FALLBACK_FUNCTION;

use crate::{paths_in_order, Tables};

/// The methods the router maps on every path it knows.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

pub fn render(tables: &Tables) -> String {
    let mut out = String::from("[workspace.metadata.lambda.watch.router]\n");
    for pattern in paths_in_order(tables.routes.iter()) {
        let routes: Vec<_> = tables.routes.iter().filter(|r| r.path == pattern).collect();
        let fallback = METHODS.into_iter().filter(|m| !routes.iter().any(|r| r.method == *m));
        let entries: Vec<(&str, &str)> = routes
            .iter()
            .map(|r| (r.method, r.function))
            .chain(fallback.map(|m| (m, FALLBACK_FUNCTION)))
            .collect();
        for form in routes[0].paths() {
            out.push_str(&format!("\"{form}\" = [\n"));
            for (method, function) in &entries {
                out.push_str(&format!(
                    "    {{ method = \"{method}\", function = \"{function}\" }},\n"
                ));
            }
            out.push_str("]\n");
        }
    }
    out.push_str(&format!("\"/{{*path}}\" = \"{FALLBACK_FUNCTION}\"\n"));
    out
}
