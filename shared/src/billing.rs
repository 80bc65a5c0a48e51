//! The token balance: each request that reaches a model costs `TOKENS_PER_REQUEST`.
//! The charge is taken before the model is called (so concurrent requests can never
//! overdraw) and given back if the model fails (so a failure costs nothing).

use http::StatusCode;
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::Store;

/// Takes one request's cost; the balance left, or 402 when it is short.
pub async fn charge(store: &dyn Store, user_id: Uuid, cost: i64) -> Result<i64, ApiError> {
    match store.charge(user_id, cost).await? {
        Some(left) => Ok(left),
        None => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_tokens",
            format!("Your token balance is too low: a request costs {cost} tokens."),
        )
        .with("tokens_required", cost)),
    }
}

/// Gives one charge back after a failed model call; the balance then.
pub async fn refund(store: &dyn Store, user_id: Uuid, cost: i64) -> Result<i64, ApiError> {
    Ok(store.refund(user_id, cost).await?)
}
