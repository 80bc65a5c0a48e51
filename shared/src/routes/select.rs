//! A function's own routes, chosen from the table at compile time. A function's
//! binary holds only the routes [`routes_of!`](crate::routes_of) gives it, so the
//! linker keeps only their handlers (and the shapes and schemas they reach): the
//! other routes' code is left out of that binary.

use super::ROUTES;
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::route::{Doc, HandlerFuture, Route};

/// Whether `a` and `b` are the same text (`==` is not `const` for `str`).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// How many routes of the table name `function`.
pub const fn count_of(function: &str) -> usize {
    let (mut count, mut i) = (0, 0);
    while i < ROUTES.len() {
        if same(ROUTES[i].function, function) {
            count += 1;
        }
        i += 1;
    }
    count
}

/// The `N` routes of the table that name `function`, in the table's order; `N`
/// must be [`count_of`]`(function)` (a mismatch fails the build).
pub const fn select<const N: usize>(function: &str) -> [Route; N] {
    assert!(N == count_of(function), "select: N must be count_of(function)");
    assert!(N > 0, "a function serves at least one route");
    let mut chosen = [ROUTES[0]; N];
    let (mut at, mut i) = (0, 0);
    while i < ROUTES.len() {
        if same(ROUTES[i].function, function) {
            chosen[at] = ROUTES[i];
            at += 1;
        }
        i += 1;
    }
    chosen
}

/// Every route of the table with its handler replaced by [`not_served`], and its
/// documentation too unless `keep_docs`: what the fallback function (method and path,
/// for its 404 and 405) and the OpenAPI document (the docs) read. Neither serves
/// the routes, so their binaries link none of the handlers, and the fallback none of
/// the shapes' schemas either.
const fn without_handlers<const N: usize>(keep_docs: bool) -> [Route; N] {
    assert!(N == ROUTES.len(), "without_handlers: N must be the table's length");
    let mut all = [Route::new("", "", "", not_served); N];
    let mut i = 0;
    while i < N {
        let route = ROUTES[i];
        let doc = if keep_docs { route.doc } else { Doc::NONE };
        all[i] = Route {
            handler: not_served,
            doc,
            ..route
        };
        i += 1;
    }
    all
}

/// The handler of a route in a copy of the table that serves nothing.
fn not_served<'c>(_: &'c Call<'_>) -> HandlerFuture<'c> {
    Box::pin(async { Err(ApiError::not_found("No such route.")) })
}

/// The table without handlers or documentation: where every route is and by which
/// method. The fallback function's routes.
pub static ROUTE_PATHS: [Route; ROUTES.len()] = without_handlers(false);

/// The table without handlers: what the OpenAPI document is written from.
pub static DOCUMENTED_ROUTES: [Route; ROUTES.len()] = without_handlers(true);

/// The routes of the function `$function`, chosen at compile time: what its `main`
/// passes to [`lambda::serve`](crate::lambda::serve).
#[macro_export]
macro_rules! routes_of {
    ($function:literal) => {{
        static ROUTES: [$crate::routes::Route; $crate::routes::count_of($function)] = $crate::routes::select($function);
        &ROUTES
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::FUNCTIONS;

    #[test]
    fn a_functions_routes_are_its_entries_of_the_table_in_order() {
        let chosen: &[Route] = crate::routes_of!("send-chat");
        let wanted: Vec<(&str, &str)> = ROUTES
            .iter()
            .filter(|r| r.function == "send-chat")
            .map(|r| (r.method, r.path))
            .collect();
        assert!(wanted.len() > 3, "send-chat serves several dialects' routes");
        assert_eq!(chosen.iter().map(|r| (r.method, r.path)).collect::<Vec<_>>(), wanted);
        for function in FUNCTIONS {
            let count = ROUTES.iter().filter(|r| r.function == function.name).count();
            assert_eq!(count_of(function.name), count, "{}", function.name);
        }
        assert_eq!(count_of("no-such-function"), 0);
        assert!(!same("health", "healt") && !same("health", "health ") && same("", ""));
    }
}
