//! The web chat page (`/`, `/s/{share_id}`, `/assets/…`): a client of the routes
//! of the other surfaces, served by the API itself; not in the OpenAPI document.

pub mod page;

use crate::http::route::{described, handler, Route};

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    // The web chat page, a client of the routes below (not in the OpenAPI document).
    Route::new("GET", "/", "web-page", handler!(page::index))
        .summary("The web chat page")
        .page()
        .response(200, described("text/html, revalidated on every load (no-cache).")),
    Route::new("GET", "/s/{share_id}", "web-page", handler!(page::index))
        .summary("The web chat page showing a shared chat, without signing in")
        .page()
        .response(200, described("text/html, the same page as `/`.")),
    Route::new("GET", "/assets/{file}", "web-page", handler!(page::asset))
        .summary("A file of the web chat page, by its content-hashed name")
        .page()
        .response(
            200,
            described("CSS, JavaScript or SVG, cached for a year as immutable."),
        )
        .errors(&[404]),
];
