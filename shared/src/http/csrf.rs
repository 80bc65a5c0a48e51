//! Cross-site request forgery: a browser attaches the session cookie to requests
//! other sites make it send, so a state-changing request authenticated by the
//! cookie must prove it comes from the API's own origin or one of
//! `CORS_ALLOWED_ORIGINS` (named explicitly: `*` never vouches for a cookie).
//! Requests authenticated by the `Authorization` header are not checked: no
//! browser adds that header on another site's behalf.
//!
//! The proof is what browsers send and pages cannot forge: `Origin`, else
//! `Sec-Fetch-Site`, else the `Referer`'s origin. A cookie-authenticated unsafe
//! request with none of them is refused (curl with a cookie jar sends the token
//! in the header instead), and so is one whose body is not declared JSON: only
//! JSON needs a CORS preflight, so no other site's form or `no-cors` fetch can
//! send it (dialect E's handlers read any body as JSON, which would otherwise
//! make its writes CORS "simple" requests).

use http::StatusCode;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::body::is_json_media_type;
use crate::http::call::Call;

/// What the request says about where it comes from.
pub struct Source<'r> {
    pub method: &'r str,
    pub origin: Option<&'r str>,
    pub referer: Option<&'r str>,
    /// `Sec-Fetch-Site` (Fetch Metadata): `same-origin`, `same-site`,
    /// `cross-site` or `none`, set by the browser only.
    pub fetch_site: Option<&'r str>,
    /// The `Host` the request was sent to: the API's own origin's authority.
    pub host: Option<&'r str>,
    pub content_type: Option<&'r str>,
    /// Whether the body has anything but white space.
    pub has_body: bool,
}

impl<'r> Source<'r> {
    /// The headers of `call` that say where it comes from.
    pub fn of(call: &'r Call<'_>) -> Self {
        Self {
            method: call.request.method().as_str(),
            origin: call.header("origin"),
            referer: call.header("referer"),
            fetch_site: call.header("sec-fetch-site"),
            host: call.header("host"),
            content_type: call.header("content-type"),
            has_body: !call.body_bytes().iter().all(u8::is_ascii_whitespace),
        }
    }

    fn is_safe(&self) -> bool {
        matches!(self.method, "GET" | "HEAD" | "OPTIONS")
    }
}

/// What a request's headers prove about its origin.
#[derive(Debug, PartialEq, Eq)]
enum Proof {
    /// A browser says it comes from the API's own or an allowed origin.
    Trusted,
    /// A browser says it comes from elsewhere.
    Foreign,
    /// Nothing a browser would have sent.
    None,
}

fn proof(config: &Config, source: &Source<'_>) -> Proof {
    let verdict = |ok: bool| if ok { Proof::Trusted } else { Proof::Foreign };
    if let Some(origin) = source.origin {
        return verdict(trusted(config, origin.trim(), source.host));
    }
    if let Some(site) = source.fetch_site {
        let site = site.trim().to_ascii_lowercase();
        return verdict(matches!(site.as_str(), "same-origin" | "same-site"));
    }
    if let Some(referer) = source.referer {
        let origin = origin_of(referer.trim()).unwrap_or_default();
        return verdict(trusted(config, &origin, source.host));
    }
    Proof::None
}

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", message)
}

const FOREIGN: &str = "Cross-site request refused: this origin may not use the session cookie. Send the token in the Authorization header, or call from an allowed origin.";

/// Admits a cookie-authenticated request, or refuses it: 403 `csrf_failed`
/// without a browser's proof of an own or allowed origin, 415 when it has a body
/// not declared JSON.
///
/// Safe methods pass. `Origin: null` (sandboxed or privacy-stripped contexts)
/// and `Sec-Fetch-Site: cross-site` or `none` are refused.
pub fn check(config: &Config, source: &Source<'_>) -> Result<(), ApiError> {
    if source.is_safe() {
        return Ok(());
    }
    match proof(config, source) {
        Proof::Trusted => {}
        Proof::Foreign => return Err(refused(FOREIGN)),
        Proof::None => {
            return Err(refused(
                "This request is signed in by the session cookie but carries no Origin, Sec-Fetch-Site or Referer header (browsers send them). Send the token in the Authorization header instead.",
            ))
        }
    }
    if source.has_body && !source.content_type.is_some_and(is_json_media_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "A request signed in by the session cookie must send its body as JSON with 'Content-Type: application/json'.",
        ));
    }
    Ok(())
}

/// The check of a login that sets the cookie (login forgery): a browser's
/// request from a foreign origin is refused; a request with no browser's
/// headers at all (curl, a script) is no forgery and passes.
pub fn check_login(config: &Config, source: &Source<'_>) -> Result<(), ApiError> {
    if source.is_safe() || proof(config, source) != Proof::Foreign {
        return Ok(());
    }
    Err(refused(FOREIGN))
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
            fetch_site: None,
            host: Some("api.example.com"),
            content_type: None,
            has_body: false,
        }
    }

    fn fetched<'a>(method: &'a str, site: &'a str) -> Source<'a> {
        Source {
            fetch_site: Some(site),
            ..source(method, None, None)
        }
    }

    #[test]
    fn own_and_allowed_origins_pass_others_are_refused() {
        let config = config("http://localhost:5173, *");
        let ok = |s: Source| check(&config, &s).is_ok();
        assert!(ok(source("POST", Some("https://api.example.com"), None)));
        assert!(ok(source("DELETE", Some("http://localhost:5173"), None)));
        assert!(ok(source("POST", None, Some("http://localhost:5173/chat/3?x=1"))));
        assert!(ok(source("GET", Some("https://evil.example"), None)));
        assert!(ok(source("GET", None, None)));
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
    fn a_cookie_write_without_a_browser_s_proof_is_refused() {
        let config = config("http://localhost:5173");
        let err = check(&config, &source("POST", None, None)).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (403, "csrf_failed"));
        assert!(err.message.contains("Authorization"), "{}", err.message);
        for site in ["same-origin", "Same-Site "] {
            assert!(check(&config, &fetched("DELETE", site)).is_ok(), "{site}");
        }
        for site in ["cross-site", "none", ""] {
            assert!(check(&config, &fetched("POST", site)).is_err(), "{site}");
        }
        // An Origin decides before Sec-Fetch-Site.
        let mixed = Source {
            origin: Some("https://evil.example"),
            ..fetched("POST", "same-site")
        };
        assert!(check(&config, &mixed).is_err());
    }

    #[test]
    fn a_cookie_write_s_body_must_be_declared_json() {
        let config = config("http://localhost:5173");
        let with = |content_type: Option<&'static str>| Source {
            content_type,
            has_body: true,
            ..source("POST", Some("http://localhost:5173"), None)
        };
        for simple in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let err = check(&config, &with(simple)).unwrap_err();
            assert_eq!((err.status.as_u16(), err.code), (415, "unsupported_media_type"));
        }
        assert!(check(&config, &with(Some("application/json; charset=utf-8"))).is_ok());
        // No body (a thread created, a logout): nothing to declare.
        assert!(check(&config, &source("POST", Some("http://localhost:5173"), None)).is_ok());
    }

    #[test]
    fn a_login_is_refused_only_when_a_browser_says_it_is_foreign() {
        let config = config("http://localhost:5173");
        assert!(check_login(&config, &source("POST", None, None)).is_ok());
        assert!(check_login(&config, &source("POST", Some("http://localhost:5173"), None)).is_ok());
        assert!(check_login(&config, &source("POST", Some("https://evil.example"), None)).is_err());
        assert!(check_login(&config, &fetched("POST", "cross-site")).is_err());
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
