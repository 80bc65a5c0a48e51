//! How every function logs.

/// JSON logs in Lambda (CloudWatch indexes them); human-readable ones elsewhere.
pub fn init() {
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
