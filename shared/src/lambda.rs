//! What every function's `main` calls: build the state once, then serve the routes
//! the route table gives that function.

use lambda_http::{service_fn, Error, Request};

use crate::config::Config;
use crate::routes::{handle, handle_streaming, Serve};
use crate::state::AppState;

/// JSON logs in Lambda (CloudWatch indexes them); human-readable ones elsewhere.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let in_lambda =
        std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let result = if in_lambda && std::env::var_os("AWS_SAM_LOCAL").is_none() {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(result);
}

/// Settings are validated before the first request: a bad setting stops the cold
/// start with a message naming it.
async fn start() -> Result<AppState, Error> {
    init_tracing();
    let config = Config::from_env()?;
    Ok(AppState::from_config(config)
        .await
        .map_err(|e| format!("starting up: {e:#}"))?)
}

/// Runs the function called `function` (its binary name in the route table).
pub async fn serve(function: &'static str) -> Result<(), Error> {
    let state = start().await?;
    let state = &state;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle(state, request, Serve::Function(function)).await)
    }))
    .await
}

/// Runs a function whose routes stream their answers (Lambda response streaming).
pub async fn serve_streaming(function: &'static str) -> Result<(), Error> {
    let state = start().await?;
    let state = &state;
    lambda_http::run_with_streaming_response(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle_streaming(state, request, Serve::Function(function)).await)
    }))
    .await
}
