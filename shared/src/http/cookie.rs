//! The session cookie of cookie authentication (API.md §4): read from a request's
//! `Cookie` header, written and cleared with the configured attributes. It carries
//! an ordinary API token, so revoking the token ends the cookie's session too.

use http::HeaderMap;

use crate::config::SessionCookie;

/// The value of the cookie `name`, from every `Cookie` header of the request (the
/// first non-empty one when a browser sends it twice, e.g. for two paths).
pub fn value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .find(|value| !value.is_empty())
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
        assert_eq!(value(&map, "sessionid"), Some("abc123"));
        assert_eq!(value(&map, "session"), None);
        let map = headers(&["sessionid=", "a=b; sessionid=\"second\""]);
        assert_eq!(value(&map, "sessionid"), Some("second"));
        assert_eq!(value(&headers(&["garbage; ;="]), "sessionid"), None);
        assert_eq!(value(&HeaderMap::new(), "sessionid"), None);
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
