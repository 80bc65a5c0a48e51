//! Finding the route a request is for, as API Gateway would: by method and path
//! pattern, the most literal pattern first.

use std::collections::HashMap;

use super::table::ROUTES;
use crate::http::route::Route;

/// The outcome of looking a request up in the table.
pub enum Lookup {
    Found(&'static Route, HashMap<String, String>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

/// Looks `method` and `path` up. Where several patterns match a path, the
/// one with the most literal segments wins, as in API Gateway: `/api/chats/stream/`
/// is the stream route (405 for GET), not a chat whose id is "stream".
pub fn lookup(method: &str, path: &str) -> Lookup {
    lookup_in(ROUTES, method, path)
}

/// [`lookup`] among `routes` (a function's own, or the whole table).
pub fn lookup_in(routes: &'static [Route], method: &str, path: &str) -> Lookup {
    let matching: Vec<(&'static Route, HashMap<String, String>)> = routes
        .iter()
        .filter_map(|route| match_path(route.path, path).map(|params| (route, params)))
        .collect();
    let most_specific = matching.iter().map(|(route, _)| literal_segments(route.path)).max();
    let mut allowed = Vec::new();
    for (route, params) in matching {
        if Some(literal_segments(route.path)) != most_specific {
            continue;
        }
        if route.method.eq_ignore_ascii_case(method) {
            return Lookup::Found(route, params);
        }
        allowed.push(route.method);
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

fn literal_segments(pattern: &str) -> usize {
    pattern.split('/').filter(|segment| !segment.starts_with('{')).count()
}

/// Matches `path` against a pattern with `{name}` segments, ignoring a trailing slash.
pub fn match_path(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if pattern.len() != actual.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (want, got) in pattern.iter().zip(&actual) {
        if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            let value = percent_encoding::percent_decode_str(got).decode_utf8().ok()?;
            if value.is_empty() {
                return None;
            }
            params.insert(name.to_string(), value.into_owned());
        } else if want != got {
            return None;
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The function serving a lookup's route, and its pattern.
    fn found(lookup: Lookup) -> Option<(&'static str, &'static str, HashMap<String, String>)> {
        match lookup {
            Lookup::Found(route, params) => Some((route.function, route.path, params)),
            _ => None,
        }
    }

    #[test]
    fn paths_match_with_and_without_the_trailing_slash() {
        let params = match_path("/api/chats/{chat_id}/", "/api/chats/abc").unwrap();
        assert_eq!(params["chat_id"], "abc");
        assert!(match_path("/api/chats/{chat_id}/", "/api/chats/abc/").is_some());
        assert!(match_path("/api/chats/{chat_id}/", "/api/chats/").is_none());
        assert!(match_path("/api/chats/{chat_id}/", "/api/chats/a/b").is_none());
        assert_eq!(
            match_path("/api/users/{username}/deactivate/", "/api/users/a%40b/deactivate").unwrap()["username"],
            "a@b"
        );
    }

    #[test]
    fn lookup_tells_missing_paths_from_wrong_methods() {
        let (function, pattern, _) = found(lookup("GET", "/api/chats")).unwrap();
        assert_eq!((function, pattern), ("list-chats", "/api/chats/"));
        assert!(
            matches!(lookup("PUT", "/api/chats/"), Lookup::MethodNotAllowed(m) if m == vec!["POST", "GET", "DELETE"])
        );
        assert!(matches!(lookup("GET", "/api/nothing/"), Lookup::NotFound));
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter() {
        // The stream route is POST only; GET must not become "the chat with id stream".
        assert!(matches!(lookup("GET", "/api/chats/stream/"), Lookup::MethodNotAllowed(m) if m == vec!["POST"]));
        let (function, pattern, _) = found(lookup("POST", "/api/chats/stream")).unwrap();
        assert_eq!((function, pattern), ("stream-chat", "/api/chats/stream/"));
        let id = "0b0e7a5e-8c4f-4d8e-9d55-1f0c3c7c2b10";
        let (function, pattern, params) = found(lookup("GET", &format!("/api/chats/{id}/"))).unwrap();
        assert_eq!((function, pattern), ("get-chat", "/api/chats/{chat_id}/"));
        assert_eq!(params["chat_id"], id);
    }
}
