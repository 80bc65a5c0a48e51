//! `GET /api/usage/` (the caller's) and `GET /api/admin/usage/` (every user's
//! totals, for admins): what kept charges bought (API.md §7).

use crate::api::usage::{AdminUsageReport, UserUsage};
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Reply;
use crate::usage::{per_user, report, Span};

fn span(call: &Call<'_>) -> Result<Span, ApiError> {
    Span::parse(
        call.query_param("from"),
        call.query_param("to"),
        call.now,
        call.display_zone()?,
    )
}

pub async fn get_usage(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let span = span(call)?;
    let (from, to) = span.hours();
    let store = &call.state.store;
    let buckets = store.usage_of(user.id, from, to).await?;
    let keys = store.api_keys_of(user.id).await?;
    Reply::ok(report(&span, &buckets, &keys))
}

pub async fn get_admin_usage(call: &Call<'_>) -> Result<Reply, ApiError> {
    if !call.user()?.is_admin {
        return Err(ApiError::forbidden("not_admin", "Only an administrator can do this."));
    }
    let span = span(call)?;
    let (from, to) = span.hours();
    let store = &call.state.store;
    let (total, counted) = per_user(&span, &store.usage_of_everyone(from, to).await?);
    let mut users = Vec::with_capacity(counted.len());
    for (user_id, counts) in counted {
        let username = store.user_by_id(user_id).await?.map(|u| u.username);
        users.push(UserUsage {
            user_id,
            username,
            counts,
        });
    }
    Reply::ok(AdminUsageReport {
        from: span.first.to_string(),
        to: span.last.to_string(),
        time_zone: span.zone.name().to_string(),
        total,
        users,
    })
}
