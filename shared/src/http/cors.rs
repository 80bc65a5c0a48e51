//! CORS for browser clients: only the configured origins get access headers, and
//! preflight requests are answered without touching any handler. An origin listed
//! by name may also send the session cookie (`Access-Control-Allow-Credentials`);
//! `*` lets any origin read answers but never with credentials.

use crate::config::Config;
use crate::http::reply::Reply;

pub const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key";
pub const EXPOSED_HEADERS: &str = "Link, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, Idempotent-Replayed";

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
        if config.cors_allowed_origins.iter().any(|o| o == origin) {
            headers.push(("access-control-allow-credentials", "true".to_string()));
        }
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

    #[test]
    fn credentials_only_for_origins_listed_by_name() {
        let config = Config::from_vars(std::collections::HashMap::from([(
            "CORS_ALLOWED_ORIGINS".into(),
            "http://localhost:5173,*".into(),
        )]))
        .unwrap();
        let named = headers(&config, Some("http://localhost:5173"));
        assert!(named.contains(&("access-control-allow-credentials", "true".into())));
        assert!(named.contains(&("access-control-allow-origin", "http://localhost:5173".into())));
        let starred = headers(&config, Some("https://other.example"));
        assert!(starred.contains(&("access-control-allow-origin", "https://other.example".into())));
        assert!(!starred.iter().any(|(n, _)| *n == "access-control-allow-credentials"));
        assert!(!starred.iter().any(|(_, v)| v == "*"));
    }
}
