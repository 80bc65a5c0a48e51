//! Usage reports (API.md §7): the store's hourly buckets (`store::UsageBucket`),
//! summed over a span of days in the reader's time zone, by day, model and key.
//! A bucket counts on the day its hour starts in that zone, so in a zone whose
//! offset is not whole hours a report's edges are the nearest hours.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::{usage_hour, Accounts, ApiKey, ApiKeys, StoreError, UsageBucket, UsageLog, User};
use crate::surfaces::service::shapes::usage::{Counts, DayUsage, KeyUsage, ModelUsage, UsageReport, UserUsage};
use crate::time::start_of_day;

/// The days a report covers without `from`: the last 30, today included.
pub const DEFAULT_DAYS: u64 = 30;
/// The longest span one report covers.
pub const MAX_DAYS: u64 = 366;

/// Whole days `first..=last` in `zone`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub zone: Tz,
}

fn date(value: &str, field: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid_field(field, format!("{field} must be a date, YYYY-MM-DD.")))
}

impl Span {
    /// `from` and `to` (`YYYY-MM-DD`, both included) as a client gives them; by
    /// default the 30 days that end today in `zone`.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: DateTime<Utc>, zone: Tz) -> Result<Self, ApiError> {
        let today = now.with_timezone(&zone).date_naive();
        let last = to.map(|v| date(v, "to")).transpose()?.unwrap_or(today);
        let first = match from {
            Some(value) => date(value, "from")?,
            None => last - Days::new(DEFAULT_DAYS - 1),
        };
        if first > last {
            return Err(ApiError::invalid_field("from", "from must not be after to."));
        }
        if last - Days::new(MAX_DAYS - 1) > first {
            return Err(ApiError::invalid_field(
                "from",
                format!("A report covers at most {MAX_DAYS} days."),
            ));
        }
        Ok(Self { first, last, zone })
    }

    /// The hours to read, `[from, to)`: from the hour the first day starts in.
    pub fn hours(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = usage_hour(start_of_day(self.first, self.zone));
        (from, start_of_day(self.last + Days::new(1), self.zone))
    }

    /// The day a bucket counts on, if it is one of the span's.
    pub fn day_of(&self, hour: DateTime<Utc>) -> Option<NaiveDate> {
        let day = hour.with_timezone(&self.zone).date_naive();
        (self.first..=self.last).contains(&day).then_some(day)
    }
}

/// Sorted with the most tokens charged first, then by name.
fn by_spend<K: Ord, T>(counted: BTreeMap<K, Counts>, mut make: impl FnMut(K, Counts) -> T) -> Vec<T> {
    let mut rows: Vec<(K, Counts)> = counted.into_iter().collect();
    rows.sort_by(|a, b| b.1.tokens_charged.cmp(&a.1.tokens_charged).then(a.0.cmp(&b.0)));
    rows.into_iter().map(|(k, c)| make(k, c)).collect()
}

/// One user's report over `span` from their buckets and keys (for the keys' names).
pub fn report(span: &Span, buckets: &[UsageBucket], keys: &[ApiKey]) -> UsageReport {
    let mut total = Counts::default();
    let mut days: BTreeMap<NaiveDate, Counts> = BTreeMap::new();
    let mut models: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut by_key: BTreeMap<Uuid, Counts> = BTreeMap::new();
    for bucket in buckets {
        let Some(day) = span.day_of(bucket.hour) else { continue };
        total.add(bucket);
        days.entry(day).or_default().add(bucket);
        models
            .entry((bucket.provider.clone(), bucket.model.clone()))
            .or_default()
            .add(bucket);
        if let Some(key) = bucket.key_id {
            by_key.entry(key).or_default().add(bucket);
        }
    }
    let name = |id: Uuid| keys.iter().find(|k| k.id == id).map(|k| k.name.clone());
    UsageReport {
        from: span.first.to_string(),
        to: span.last.to_string(),
        time_zone: span.zone.name().to_string(),
        total,
        by_day: days
            .into_iter()
            .map(|(day, counts)| DayUsage {
                date: day.to_string(),
                counts,
            })
            .collect(),
        by_model: by_spend(models, |(provider, model), counts| ModelUsage {
            provider,
            model,
            counts,
        }),
        by_key: by_spend(by_key, |key_id, counts| KeyUsage {
            key_id,
            name: name(key_id),
            counts,
        }),
    }
}

/// The user's report over `span`: its buckets and its keys' names, read once each.
pub async fn usage_of(
    log: &dyn UsageLog,
    keys: &dyn ApiKeys,
    user: &User,
    span: &Span,
) -> Result<UsageReport, StoreError> {
    let (from, to) = span.hours();
    let buckets = log.usage_of(user.id, from, to).await?;
    let keys = keys.api_keys_of(user.id).await?;
    Ok(report(span, &buckets, &keys))
}

/// Every user's totals over `span` with their names (an account deleted since has
/// none), and the sum of all: the administrators' view.
pub async fn usage_of_everyone(
    log: &dyn UsageLog,
    accounts: &dyn Accounts,
    span: &Span,
) -> Result<(Counts, Vec<UserUsage>), StoreError> {
    let (from, to) = span.hours();
    let (total, counted) = per_user(span, &log.usage_of_everyone(from, to).await?);
    let mut users = Vec::with_capacity(counted.len());
    for (user_id, counts) in counted {
        users.push(UserUsage {
            user_id,
            username: accounts.user_by_id(user_id).await?.map(|u| u.username),
            counts,
        });
    }
    Ok((total, users))
}

/// Every user's totals over `span`, most tokens charged first.
pub fn per_user(span: &Span, buckets: &[UsageBucket]) -> (Counts, Vec<(Uuid, Counts)>) {
    let mut total = Counts::default();
    let mut users: BTreeMap<Uuid, Counts> = BTreeMap::new();
    for bucket in buckets.iter().filter(|b| span.day_of(b.hour).is_some()) {
        total.add(bucket);
        users.entry(bucket.user_id).or_default().add(bucket);
    }
    (total, by_spend(users, |id, counts| (id, counts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn bucket(hour: &str, model: &str, key_id: Option<Uuid>, charged: i64) -> UsageBucket {
        UsageBucket {
            user_id: Uuid::nil(),
            hour: at(hour),
            provider: "p".into(),
            model: model.into(),
            key_id,
            requests: 1,
            tokens_charged: charged,
            prompt_tokens: 2,
            completion_tokens: 3,
        }
    }

    #[test]
    fn the_default_span_is_the_last_30_days_in_the_zone() {
        // 21:00 UTC is already 2 March in Karachi (UTC+5).
        let span = Span::parse(None, None, at("2026-03-01T21:00:00Z"), chrono_tz::Asia::Karachi).unwrap();
        assert_eq!(
            (span.first.to_string(), span.last.to_string()),
            ("2026-02-01".into(), "2026-03-02".into())
        );
        assert_eq!(span.hours(), (at("2026-01-31T19:00:00Z"), at("2026-03-02T19:00:00Z")));
    }

    #[test]
    fn bad_spans_are_a_400_naming_the_field() {
        let now = at("2026-03-01T12:00:00Z");
        let zone = chrono_tz::UTC;
        let field = |from, to| Span::parse(from, to, now, zone).unwrap_err().body()["field"].clone();
        assert_eq!(field(Some("2026-3-1x"), None), "from");
        assert_eq!(field(None, Some("yesterday")), "to");
        assert_eq!(field(Some("2026-03-02"), Some("2026-03-01")), "from");
        assert_eq!(field(Some("2025-01-01"), Some("2026-03-01")), "from", "over 366 days");
        assert!(
            Span::parse(Some("2025-03-01"), Some("2026-03-01"), now, zone).is_ok(),
            "366 days"
        );
    }

    #[test]
    fn buckets_count_on_their_day_in_the_zone_by_model_and_key() {
        let zone = chrono_tz::Asia::Karachi;
        let span = Span::parse(Some("2026-03-01"), Some("2026-03-02"), at("2026-03-05T00:00:00Z"), zone).unwrap();
        let key = Uuid::now_v7();
        let gone = Uuid::now_v7();
        let buckets = [
            bucket("2026-02-28T18:00:00Z", "small", None, 100), // 23:00 on 28 Feb there: out
            bucket("2026-02-28T19:00:00Z", "small", None, 100), // 1 March, 00:00
            bucket("2026-03-01T20:00:00Z", "base", Some(key), 40), // 2 March, 01:00
            bucket("2026-03-01T21:00:00Z", "base", Some(gone), 100),
            bucket("2026-03-02T19:00:00Z", "base", None, 100), // 3 March: out
        ];
        let keys = [ApiKey {
            id: key,
            user_id: Uuid::nil(),
            name: "laptop".into(),
            digest: String::new(),
            created_at: at("2026-01-01T00:00:00Z"),
            last_used_at: None,
            requests: 1,
        }];
        let report = report(&span, &buckets, &keys);
        let counts = |requests, tokens_charged| Counts {
            requests,
            tokens_charged,
            prompt_tokens: 2 * requests,
            completion_tokens: 3 * requests,
        };
        assert_eq!(report.total, counts(3, 240));
        assert_eq!(
            report.by_day.iter().map(|d| d.date.as_str()).collect::<Vec<_>>(),
            ["2026-03-01", "2026-03-02"]
        );
        assert_eq!(report.by_day[1].counts, counts(2, 140));
        assert_eq!(
            report.by_model.iter().map(|m| m.model.as_str()).collect::<Vec<_>>(),
            ["base", "small"]
        );
        assert_eq!(report.by_key.len(), 2);
        assert_eq!(
            (report.by_key[0].key_id, report.by_key[0].name.as_deref()),
            (gone, None)
        );
        assert_eq!(
            (report.by_key[1].key_id, report.by_key[1].name.as_deref()),
            (key, Some("laptop"))
        );
        assert_eq!(report.time_zone, "Asia/Karachi");
    }
}
