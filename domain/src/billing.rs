//! The token balance: each request that reaches a model costs `TOKENS_PER_REQUEST`.
//!
//! The charge is taken before the model is called (so concurrent requests can never
//! overdraw), together with a hold (`store::Hold`) in one atomic step. The hold ends
//! exactly once: the write that stores the reply ends it and keeps the charge; a
//! failure refunds it; and a hold that a failure could not refund (the store gone, the
//! function killed) is refunded once it is stale, by the user's next request that
//! charges or reads the balance (`settle_stale`). So every charge ends attached to a
//! stored reply or refunded, whatever single step fails (ARCHITECTURE.md).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::store::{Accounts, Balances, Hold, Settled, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The balance is below one request's cost; nothing was taken.
    #[error("the balance is below the {required} tokens a request costs")]
    Insufficient { required: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one charge costs and how long it may stay pending.
#[derive(Clone, Copy, Debug)]
pub struct Price {
    pub cost: i64,
    pub pending_secs: i64,
}

/// Takes one request's cost; the hold that the reply's write or a refund ends.
pub async fn charge(
    store: &dyn Balances,
    user_id: Uuid,
    price: Price,
    now: DateTime<Utc>,
) -> Result<Hold, BillingError> {
    let hold = Hold {
        id: Uuid::now_v7(),
        user_id,
        cost: price.cost,
        created_at: now,
        stale_at: now + Duration::seconds(price.pending_secs),
    };
    if store.charge(&hold).await? {
        Ok(hold)
    } else {
        Err(BillingError::Insufficient { required: price.cost })
    }
}

/// Gives the hold's charge back, unless it has ended already.
pub async fn refund(store: &dyn Balances, hold: &Hold) -> Result<Settled, StoreError> {
    store.refund(hold).await
}

/// The most stale holds one request refunds: a user has one per reply under way.
const STALE_PER_REQUEST: usize = 20;

/// Refunds the user's holds that are stale at `now` (each exactly once, whoever
/// else is settling them); how many this call refunded.
pub async fn settle_stale(store: &dyn Balances, user_id: Uuid, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut refunded = 0;
    for hold in store.stale_holds(user_id, now, STALE_PER_REQUEST).await? {
        if store.refund(&hold).await? == Settled::Now {
            tracing::warn!(user_id = %user_id, hold_id = %hold.id, cost = hold.cost, "refunded a charge a failed request left pending");
            refunded += 1;
        }
    }
    Ok(refunded)
}

/// The user's balance as it stands once every stale hold is refunded: what a client
/// reading its balance is shown, so a charge a failure left pending never shows
/// past its time.
pub async fn settled_balance(
    balances: &dyn Balances,
    accounts: &dyn Accounts,
    user: &User,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    if settle_stale(balances, user.id, now).await? == 0 {
        return Ok(user.clone());
    }
    Ok(accounts.user_by_id(user.id).await?.unwrap_or_else(|| user.clone()))
}
