//! Usage reports (API.md §7): what the balance was spent on, by day, model and key.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::UsageBucket;

/// Requests and tokens over a span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    /// Replies kept (stored or delivered) and paid for.
    pub requests: i64,
    /// Balance tokens they took: over all time, the balance's `spent`.
    pub tokens_charged: i64,
    /// The model's own token counts, as its provider reported them.
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Counts {
    pub fn add(&mut self, bucket: &UsageBucket) {
        self.requests += bucket.requests;
        self.tokens_charged += bucket.tokens_charged;
        self.prompt_tokens += bucket.prompt_tokens;
        self.completion_tokens += bucket.completion_tokens;
    }
}

#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct DayUsage {
    /// `YYYY-MM-DD` in the report's time zone.
    pub date: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct KeyUsage {
    pub key_id: Uuid,
    /// Null once the key is revoked.
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// `GET /api/usage/`.
#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct UsageReport {
    /// The first and last day, `YYYY-MM-DD`, both included.
    pub from: String,
    pub to: String,
    /// The IANA zone the days are in.
    pub time_zone: String,
    pub total: Counts,
    /// Days with usage, oldest first.
    pub by_day: Vec<DayUsage>,
    /// Most tokens charged first.
    pub by_model: Vec<ModelUsage>,
    /// Requests through personal API keys, most tokens charged first.
    pub by_key: Vec<KeyUsage>,
}

#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct UserUsage {
    pub user_id: Uuid,
    /// Null for an account deleted since.
    pub username: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// `GET /api/admin/usage/`: every user's totals over the span.
#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct AdminUsageReport {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub total: Counts,
    /// Most tokens charged first.
    pub users: Vec<UserUsage>,
}
