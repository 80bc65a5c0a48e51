//! CORS for browser clients: only the configured origins get access headers, and
//! preflight requests are answered without touching any handler.

use crate::config::Config;
use crate::http::reply::Reply;

pub const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type";
pub const EXPOSED_HEADERS: &str = "Link, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining";

fn allowed<'o>(config: &Config, origin: Option<&'o str>) -> Option<&'o str> {
    let origin = origin?;
    config
        .cors_allowed_origins
        .iter()
        .any(|o| o == "*" || o == origin)
        .then_some(origin)
}

/// The access headers for an allowed `origin` (and `Vary`, for caches).
pub fn headers(config: &Config, origin: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(origin) = allowed(config, origin) {
        headers.push(("access-control-allow-origin", origin.to_string()));
        headers.push(("access-control-expose-headers", EXPOSED_HEADERS.to_string()));
    }
    headers.push(("vary", "Origin".to_string()));
    headers
}

/// The answer to an `OPTIONS` preflight on a known path.
pub fn preflight(config: &Config, origin: Option<&str>) -> Reply {
    let mut reply = Reply::no_content();
    if allowed(config, origin).is_some() {
        reply
            .headers
            .push(("access-control-allow-methods", ALLOWED_METHODS.to_string()));
        reply
            .headers
            .push(("access-control-allow-headers", ALLOWED_HEADERS.to_string()));
        reply.headers.push(("access-control-max-age", "600".to_string()));
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_origins_get_access() {
        let config = Config::defaults();
        let allowed = headers(&config, Some("http://localhost:5173"));
        assert!(allowed
            .iter()
            .any(|(n, v)| *n == "access-control-allow-origin" && v == "http://localhost:5173"));
        let other = headers(&config, Some("https://evil.example"));
        assert!(!other.iter().any(|(n, _)| *n == "access-control-allow-origin"));
        let reply = preflight(&config, Some("http://localhost:5173"));
        assert!(reply.headers.iter().any(|(n, _)| *n == "access-control-allow-methods"));
        assert_eq!(reply.status.as_u16(), 204);
    }
}
