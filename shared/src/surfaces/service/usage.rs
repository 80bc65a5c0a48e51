//! `GET /api/usage/` (the caller's) and `GET /api/admin/usage/` (every user's
//! totals, for admins): what kept charges bought (API.md §7).

use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Reply;
use crate::surfaces::service::report::{usage_of, usage_of_everyone, Span};
use crate::surfaces::service::shapes::usage::AdminUsageReport;

fn span(call: &Call<'_>) -> Result<Span, ApiError> {
    Span::parse(
        call.query_param("from"),
        call.query_param("to"),
        call.now,
        call.display_zone()?,
    )
}

pub async fn get_usage(call: &Call<'_>) -> Result<Reply, ApiError> {
    let state = call.state;
    Reply::ok(usage_of(state.usage_log(), state.api_keys(), call.user()?, &span(call)?).await?)
}

pub async fn get_admin_usage(call: &Call<'_>) -> Result<Reply, ApiError> {
    if !call.user()?.is_admin {
        return Err(ApiError::forbidden("not_admin", "Only an administrator can do this."));
    }
    let span = span(call)?;
    let (total, users) = usage_of_everyone(call.state.usage_log(), call.state.accounts(), &span).await?;
    Reply::ok(AdminUsageReport {
        from: span.first.to_string(),
        to: span.last.to_string(),
        time_zone: span.zone.name().to_string(),
        total,
        users,
    })
}
