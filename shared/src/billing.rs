//! The token balance: each request that reaches a model costs `TOKENS_PER_REQUEST`.
//! The charge is taken before the model is called (so concurrent requests can never
//! overdraw) and given back if the model fails (so a failure costs nothing).

use uuid::Uuid;

use crate::store::{Balances, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The balance is below one request's cost; nothing was taken.
    #[error("the balance is below the {required} tokens a request costs")]
    Insufficient { required: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes one request's cost; the balance left.
pub async fn charge(store: &dyn Balances, user_id: Uuid, cost: i64) -> Result<i64, BillingError> {
    store
        .charge(user_id, cost)
        .await?
        .ok_or(BillingError::Insufficient { required: cost })
}

/// Gives one charge back after a failed model call; the balance then.
pub async fn refund(store: &dyn Balances, user_id: Uuid, cost: i64) -> Result<i64, StoreError> {
    store.refund(user_id, cost).await
}
