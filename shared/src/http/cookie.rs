//! The session cookie of cookie authentication (API.md §4): read from a request's
//! `Cookie` header, written and cleared with the configured attributes. It carries
//! an ordinary API token, so revoking the token ends the cookie's session too.

use http::HeaderMap;

use crate::config::SessionCookie;
use crate::error::ApiError;

/// Every non-empty value of the cookie `name`, from every `Cookie` header of the
/// request, in order.
pub fn values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
        .collect()
}

/// A request that carries the session cookie twice: e.g. one the API set and one
/// a sibling subdomain planted for the parent domain (cookie tossing). Which one
/// the browser meant cannot be told, so neither is used.
#[derive(Debug, thiserror::Error)]
#[error("the session cookie {0} is sent twice")]
pub struct TwoCookies(pub String);

impl From<TwoCookies> for ApiError {
    fn from(err: TwoCookies) -> Self {
        ApiError::bad_request(
            "duplicate_session_cookie",
            format!(
                "The request carries the session cookie `{}` more than once (one may have been set by another site of this domain). Clear this site's cookies and log in again, or send the token in the Authorization header.",
                err.0
            ),
        )
    }
}

/// The value of the cookie `name` (`None` when absent or empty); two values are
/// refused.
pub fn value<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, TwoCookies> {
    match values(headers, name).as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(TwoCookies(name.to_string())),
    }
}

fn attributes(cookie: &SessionCookie) -> String {
    let mut text = format!("Path=/; HttpOnly; SameSite={}", cookie.same_site.as_str());
    if cookie.secure {
        text.push_str("; Secure");
    }
    text
}

/// `Set-Cookie` for a new session: lives as long as its token.
pub fn set(cookie: &SessionCookie, token: &str, max_age_secs: i64) -> String {
    format!(
        "{}={token}; Max-Age={max_age_secs}; {}",
        cookie.name,
        attributes(cookie)
    )
}

/// `Set-Cookie` that makes the browser drop the session cookie.
pub fn clear(cookie: &SessionCookie) -> String {
    format!(
        "{}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {}",
        cookie.name,
        attributes(cookie)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SameSite;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(http::header::COOKIE, line.parse().unwrap());
        }
        map
    }

    #[test]
    fn finds_the_named_cookie_among_others() {
        let map = headers(&["theme=dark; sessionid=abc123 ; csrftoken=x"]);
        assert_eq!(value(&map, "sessionid").unwrap(), Some("abc123"));
        assert_eq!(value(&map, "session").unwrap(), None);
        let map = headers(&["sessionid=", "a=b; sessionid=\"second\""]);
        assert_eq!(value(&map, "sessionid").unwrap(), Some("second"));
        assert_eq!(value(&headers(&["garbage; ;="]), "sessionid").unwrap(), None);
        assert_eq!(value(&HeaderMap::new(), "sessionid").unwrap(), None);
    }

    #[test]
    fn two_session_cookies_are_refused() {
        for lines in [
            &["sessionid=a; sessionid=b"][..],
            &["sessionid=a", "x=1; sessionid=a"][..],
        ] {
            let map = headers(lines);
            assert_eq!(values(&map, "sessionid").len(), 2);
            let err = ApiError::from(value(&map, "sessionid").unwrap_err());
            assert_eq!((err.status.as_u16(), err.code), (400, "duplicate_session_cookie"));
        }
        // Another cookie whose name only looks alike is not a second one.
        let map = headers(&["__Host-sessionid=a; sessionid=b"]);
        assert_eq!(value(&map, "__Host-sessionid").unwrap(), Some("a"));
    }

    #[test]
    fn attributes_follow_the_settings() {
        let mut cookie = SessionCookie {
            name: "sessionid".into(),
            same_site: SameSite::Lax,
            secure: true,
        };
        assert_eq!(
            set(&cookie, "tok", 60),
            "sessionid=tok; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        cookie.same_site = SameSite::Strict;
        cookie.secure = false;
        assert_eq!(
            clear(&cookie),
            "sessionid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Strict"
        );
    }
}
