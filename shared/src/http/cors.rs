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

/// Adds the access headers for an allowed `origin`.
pub fn decorate(mut reply: Reply, config: &Config, origin: Option<&str>) -> Reply {
    if let Some(origin) = allowed(config, origin) {
        reply.headers.push(("access-control-allow-origin", origin.to_string()));
        reply
            .headers
            .push(("access-control-expose-headers", EXPOSED_HEADERS.to_string()));
    }
    reply.headers.push(("vary", "Origin".to_string()));
    reply
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
    decorate(reply, config, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_origins_get_access() {
        let config = Config::defaults();
        let reply = decorate(Reply::no_content(), &config, Some("http://localhost:5173"));
        assert!(reply
            .headers
            .iter()
            .any(|(n, v)| *n == "access-control-allow-origin" && v == "http://localhost:5173"));
        let reply = decorate(Reply::no_content(), &config, Some("https://evil.example"));
        assert!(!reply.headers.iter().any(|(n, _)| *n == "access-control-allow-origin"));
        let reply = preflight(&config, Some("http://localhost:5173"));
        assert!(reply.headers.iter().any(|(n, _)| *n == "access-control-allow-methods"));
        assert_eq!(reply.status.as_u16(), 204);
    }
}
