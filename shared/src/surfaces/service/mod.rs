//! The canonical service surface (API.md §2, "Balance, models, rate limits"): the
//! balance, the models, usage reports and health. The route of the OpenAPI
//! document, which reads the whole table, is the routing's own (`routes::openapi`).

pub mod report;
pub mod shapes;
pub mod status;
pub mod usage;

use self::shapes::status::{HealthView, ModelView, TokensView};
use self::shapes::usage::{AdminUsageReport, UsageReport};
use super::USAGE_SPAN;
use crate::http::route::{handler, json, list, Route, Surface};

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/api/usage/", "get-usage", handler!(usage::get_usage))
        .surface(Surface::Service)
        .summary("What the balance was spent on, by day, model and API key")
        .response(200, json::<UsageReport>())
        .query(&USAGE_SPAN),
    Route::new(
        "GET",
        "/api/admin/usage/",
        "admin-usage",
        handler!(usage::get_admin_usage),
    )
    .surface(Surface::Service)
    .summary("Every user's usage totals (admins only)")
    .response(200, json::<AdminUsageReport>())
    .errors(&[403])
    .query(&USAGE_SPAN),
    Route::new("GET", "/api/tokens/", "get-tokens", handler!(status::get_tokens))
        .surface(Surface::Service)
        .summary("The token balance")
        .response(200, json::<TokensView>()),
    Route::new("GET", "/api/models/", "list-models", handler!(status::list_models))
        .surface(Surface::Service)
        .summary("Every provider/model and whether it is available")
        .response(200, list::<ModelView>()),
    Route::new("GET", "/api/health/", "health", handler!(status::health))
        .surface(Surface::Service)
        .summary("Liveness and store reachability")
        .public()
        .response(200, json::<HealthView>())
        .errors(&[503]),
];
