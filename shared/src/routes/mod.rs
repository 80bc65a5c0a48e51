//! Routing: the route table ([`ROUTES`]) and the functions it names
//! ([`FUNCTIONS`]) are the one source of routing. The functions' pipeline, the
//! in-process test router and the OpenAPI document read them at run time;
//! `cargo xtask gen` writes the `cargo lambda watch` router, the template's function
//! resources and missing function crates from them.
//!
//! The OpenAPI document is built from the table and served by a route of the
//! table, so it lives here (`openapi`) rather than among the handlers: the handlers
//! never import the routing that calls them.

mod functions;
mod lookup;
pub mod openapi;
mod pipeline;
mod select;
mod table;

pub use crate::http::route::{
    described, json, list, media, Access, Body, Doc, Errors, Handler, HandlerFuture, Limit, Route, SchemaFn, Surface,
};
pub use functions::{function, DynamoDb, Function, FALLBACK_FUNCTION, FUNCTIONS};
pub use lookup::{lookup, lookup_in, match_path, Lookup};
pub use pipeline::{handle, handle_streaming, Serve};
pub use select::{count_of, select, DOCUMENTED_ROUTES, ROUTE_PATHS};
pub use table::ROUTES;
