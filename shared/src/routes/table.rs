//! The route table: the one source of routing, the union of every surface's routes
//! (`crate::surfaces`). A route is one entry in its surface's `ROUTES` plus its
//! handler; `cargo xtask gen` then writes the `cargo lambda watch` router, the
//! template's function resources and any missing function crate from the table,
//! and the OpenAPI document is built from it at run time. A new function also
//! needs its entry in [`FUNCTIONS`](super::FUNCTIONS) (description, IAM, streaming).

use super::openapi::DOCUMENT_ROUTE;
use crate::http::route::Route;
use crate::surfaces::{accounts, chats, conversations, openai, prompts, service, threads, web};

/// Every surface's routes, in the order the document lists its tags.
const SURFACES: [&[Route]; 9] = [
    accounts::ROUTES,
    chats::ROUTES,
    service::ROUTES,
    &[DOCUMENT_ROUTE],
    openai::ROUTES,
    conversations::ROUTES,
    prompts::ROUTES,
    threads::ROUTES,
    web::ROUTES,
];

const COUNT: usize = {
    let (mut count, mut i) = (0, 0);
    while i < SURFACES.len() {
        count += SURFACES[i].len();
        i += 1;
    }
    count
};

/// Every route of the API: the surfaces' routes one after another, joined at
/// compile time so the table stays a plain `&'static [Route]`.
pub const ROUTES: &[Route] = &{
    let mut all = [SURFACES[0][0]; COUNT];
    let (mut at, mut i) = (0, 0);
    while i < SURFACES.len() {
        let mut j = 0;
        while j < SURFACES[i].len() {
            all[at] = SURFACES[i][j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    all
};

#[cfg(test)]
mod tests {
    use super::super::{function, Limit, FALLBACK_FUNCTION, FUNCTIONS};
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_one_method_and_path_served_by_a_known_function() {
        let mut seen = BTreeSet::new();
        for route in ROUTES {
            let name = format!("{} {}", route.method, route.path);
            assert!(seen.insert((route.method, route.path)), "{name} twice");
            assert!(
                ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route.method),
                "{name}"
            );
            assert!(route.path.starts_with('/'), "{name}");
            assert!(!route.summary.is_empty(), "{name} has a summary");
            assert!(route.doc.response.is_some(), "{name} documents its answer");
            assert!(
                function(route.function).is_some(),
                "{name}: {} is in FUNCTIONS",
                route.function
            );
            assert_ne!(route.function, FALLBACK_FUNCTION, "{name}");
            // A page is no part of the API's document, so of no surface.
            assert_eq!(route.surface.is_some(), route.in_openapi, "{name}: .surface(…)");
        }
    }

    #[test]
    fn every_signed_in_change_is_rate_limited() {
        for route in ROUTES {
            let name = format!("{} {}", route.method, route.path);
            let changes = route.method != "GET" && route.access == super::super::Access::User;
            // Logout only revokes: a flood of it costs one delete each, and
            // signing out must always work.
            if changes && route.function != "logout" {
                assert!(
                    matches!(route.limit, Limit::PerUser | Limit::Write),
                    "{name} changes something: Limit::Write (or PerUser for a model route)"
                );
            }
            if route.limit == Limit::Search {
                assert!(route.doc.query.iter().any(|(q, _)| *q == "search"), "{name}");
            }
            if route.doc.query.iter().any(|(q, _)| *q == "search") {
                assert_eq!(route.limit, Limit::Search, "{name} searches");
            }
        }
    }

    #[test]
    fn functions_are_kebab_case_and_each_serves_a_route() {
        let mut names = BTreeSet::new();
        for f in FUNCTIONS {
            assert!(f.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", f.name);
            assert!(names.insert(f.name), "{} twice", f.name);
            assert!(!f.description.is_empty(), "{} has a description", f.name);
            let serves = ROUTES.iter().any(|r| r.function == f.name);
            assert_eq!(serves, f.name != FALLBACK_FUNCTION, "{}", f.name);
        }
    }
}
