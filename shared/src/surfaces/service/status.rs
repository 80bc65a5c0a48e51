use http::StatusCode;

use crate::billing;
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Reply;
use crate::surfaces::service::shapes::status::*;

pub async fn get_tokens(call: &Call<'_>) -> Result<Reply, ApiError> {
    let state = call.state;
    let user = billing::settled_balance(state.balances(), state.accounts(), call.user()?, call.now).await?;
    Reply::ok(TokensView {
        tokens: user.tokens,
        spent: user.spent,
        requests: user.requests,
    })
}

pub async fn list_models(call: &Call<'_>) -> Result<Reply, ApiError> {
    let dispatch = call.state.llm();
    let mut models = Vec::new();
    for provider in dispatch.providers() {
        for model in provider.models() {
            let reason = provider.unavailable_reason(&model).await;
            models.push(ModelView {
                id: format!("{}/{model}", provider.id()),
                provider: provider.id().to_string(),
                default: dispatch.is_default(provider.id(), &model),
                available: reason.is_none(),
                reason,
                model,
            });
        }
    }
    Reply::ok(models)
}

pub async fn health(call: &Call<'_>) -> Result<Reply, ApiError> {
    let store = &call.state.store;
    let (status, code) = match store.ping().await {
        Ok(()) => ("ok", StatusCode::OK),
        Err(err) => {
            tracing::error!(error = %err, "health check: store unreachable");
            ("unavailable", StatusCode::SERVICE_UNAVAILABLE)
        }
    };
    Reply::json(
        code,
        HealthView {
            status: status.into(),
            store: store.kind().into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
}
