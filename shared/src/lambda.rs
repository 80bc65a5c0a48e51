//! What every function's `main` calls: build the state once, then serve the routes
//! the route table gives that function.

use lambda_http::{service_fn, Error, Request};

use crate::config::Config;
use crate::routes::{handle, handle_streaming, Route, Serve};
use crate::state::AppState;

pub use chatbot_runtime::logs::init as init_tracing;

/// Settings are validated before the first request: a bad setting stops the cold
/// start with a message naming it.
async fn start() -> Result<AppState, Error> {
    init_tracing();
    let config = Config::from_env()?;
    Ok(AppState::from_config(config)
        .await
        .map_err(|e| format!("starting up: {e:#}"))?)
}

/// Runs the function called `name` (its binary name in the route table) over
/// `routes`, its own routes (`routes_of!(name)`; the fallback function: the whole
/// table).
pub async fn serve(name: &'static str, routes: &'static [Route]) -> Result<(), Error> {
    let state = start().await?;
    let state = &state;
    let serve = Serve::Function { name, routes };
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle(state, request, serve).await)
    }))
    .await
}

/// Runs a function whose routes stream their answers (Lambda response streaming).
pub async fn serve_streaming(name: &'static str, routes: &'static [Route]) -> Result<(), Error> {
    let state = start().await?;
    let state = &state;
    let serve = Serve::Function { name, routes };
    lambda_http::run_with_streaming_response(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle_streaming(state, request, serve).await)
    }))
    .await
}
