//! Cross-site request forgery: a browser attaches the session cookie to requests
//! other sites make it send, so a state-changing request authenticated by the
//! cookie must come from the API's own origin or one of `CORS_ALLOWED_ORIGINS`
//! (named explicitly: `*` never vouches for a cookie). Requests authenticated by
//! the `Authorization` header are not checked: no browser adds that header on
//! another site's behalf.

use http::StatusCode;

use crate::config::Config;
use crate::error::ApiError;

/// What the request says about where it comes from.
pub struct Source<'r> {
    pub method: &'r str,
    pub origin: Option<&'r str>,
    pub referer: Option<&'r str>,
    /// The `Host` the request was sent to: the API's own origin's authority.
    pub host: Option<&'r str>,
}

/// Admits a cookie-authenticated request, or refuses it with 403.
///
/// Safe methods pass. Otherwise the `Origin` decides, or, without one, the
/// `Referer`'s origin; a request with neither is not a browser's cross-site
/// request (browsers send `Origin` on every cross-origin unsafe request), e.g.
/// curl with a cookie jar, and passes. `Origin: null` (sandboxed or privacy-
/// stripped contexts) is refused.
pub fn check(config: &Config, source: &Source<'_>) -> Result<(), ApiError> {
    if matches!(source.method, "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    let claimed = match (source.origin, source.referer) {
        (Some(origin), _) => origin.trim().to_string(),
        (None, Some(referer)) => origin_of(referer.trim()).unwrap_or_default(),
        (None, None) => return Ok(()),
    };
    if trusted(config, &claimed, source.host) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "Cross-site request refused: this origin may not use the session cookie. Send the token in the Authorization header, or call from an allowed origin.",
    ))
}

fn trusted(config: &Config, origin: &str, host: Option<&str>) -> bool {
    if origin.is_empty() || origin == "null" {
        return false;
    }
    if config.cors_allowed_origins.iter().any(|o| o != "*" && o == origin) {
        return true;
    }
    let authority = origin
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .map(|(_, rest)| rest);
    matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h.trim()))
}

/// `scheme://authority` of a URL (what a browser's `Origin` would have said).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in a URL are not part of its origin.
    let authority = authority.rsplit('@').next().unwrap_or_default();
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(origins: &str) -> Config {
        Config::from_vars(HashMap::from([("CORS_ALLOWED_ORIGINS".into(), origins.into())])).unwrap()
    }

    fn source<'a>(method: &'a str, origin: Option<&'a str>, referer: Option<&'a str>) -> Source<'a> {
        Source {
            method,
            origin,
            referer,
            host: Some("api.example.com"),
        }
    }

    #[test]
    fn own_and_allowed_origins_pass_others_are_refused() {
        let config = config("http://localhost:5173, *");
        let ok = |s: Source| check(&config, &s).is_ok();
        assert!(ok(source("POST", Some("https://api.example.com"), None)));
        assert!(ok(source("DELETE", Some("http://localhost:5173"), None)));
        assert!(ok(source("POST", None, Some("http://localhost:5173/chat/3?x=1"))));
        assert!(ok(source("POST", None, None)));
        assert!(ok(source("GET", Some("https://evil.example"), None)));
        assert!(!ok(source("POST", Some("https://evil.example"), None)));
        assert!(!ok(source("PUT", Some("null"), None)));
        assert!(!ok(source("POST", None, Some("https://evil.example/page"))));
        assert!(!ok(source("POST", None, Some("not a url"))));
        // An allowed Referer does not rescue a foreign Origin.
        assert!(!ok(source(
            "POST",
            Some("https://evil.example"),
            Some("http://localhost:5173/")
        )));
        // `*` lets any origin read answers, never use the cookie.
        assert!(!ok(source("PATCH", Some("https://other.example"), None)));
        let err = check(&config, &source("POST", Some("https://evil.example"), None)).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (403, "csrf_failed"));
    }

    #[test]
    fn referer_origins_drop_path_query_and_credentials() {
        assert_eq!(
            origin_of("https://a.example:8443/x/y?z#w").as_deref(),
            Some("https://a.example:8443")
        );
        assert_eq!(
            origin_of("https://user:pw@a.example/").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(origin_of("https:///path"), None);
        assert_eq!(origin_of("/relative"), None);
    }
}
