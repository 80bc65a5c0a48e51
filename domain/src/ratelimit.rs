//! Fixed one-minute windows counted in the store, so every container of every
//! function shares them (API.md §2 "Rate limit"). Every request to a limited route
//! counts, whatever its outcome.

use chrono::{DateTime, Duration, Utc};

use crate::store::{Limits, StoreResult};

const WINDOW_SECS: i64 = 60;

/// The state of one subject's window after counting a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub hits: u64,
    /// Seconds until the window resets.
    pub reset_secs: i64,
}

impl Window {
    pub fn exceeded(&self) -> bool {
        self.hits > u64::from(self.limit)
    }

    pub fn remaining(&self) -> u64 {
        u64::from(self.limit).saturating_sub(self.hits)
    }

    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining().to_string()),
        ]
    }

    /// The window as an error when it is exceeded.
    pub fn check(self) -> Result<Self, RateLimited> {
        if self.exceeded() {
            Err(RateLimited(self))
        } else {
            Ok(self)
        }
    }
}

/// A request over its window's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("over the limit of {} requests a minute", .0.limit)]
pub struct RateLimited(pub Window);

/// Counts one request of `subject` (e.g. `user:<id>` or `ip:<addr>`) in the current window.
pub async fn count(store: &dyn Limits, subject: &str, limit: u32, now: DateTime<Utc>) -> StoreResult<Window> {
    let window = now.timestamp().div_euclid(WINDOW_SECS);
    let window_end = (window + 1) * WINDOW_SECS;
    let key = format!("{subject}:{window}");
    // Kept a little past the window so a late straggler still finds its counter.
    let expires_at = DateTime::from_timestamp(window_end, 0).unwrap_or(now) + Duration::seconds(WINDOW_SECS);
    let hits = store.count_hit(&key, expires_at).await?;
    Ok(Window {
        limit,
        hits,
        reset_secs: (window_end - now.timestamp()).max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn the_limit_plus_one_request_is_refused_until_the_window_turns() {
        let store = SqliteStore::in_memory().unwrap();
        let now = DateTime::from_timestamp(1_800_000_010, 0).unwrap();
        for expected in 1..=3u64 {
            let window = count(&store, "user:a", 3, now).await.unwrap();
            assert_eq!(window.hits, expected);
            assert!(!window.exceeded());
        }
        let window = count(&store, "user:a", 3, now).await.unwrap();
        assert!(window.exceeded());
        assert_eq!(window.remaining(), 0);
        assert_eq!(window.reset_secs, 50);
        assert_eq!(window.check(), Err(RateLimited(window)));
        // Another subject has its own window; the next minute starts afresh.
        assert_eq!(count(&store, "user:b", 3, now).await.unwrap().hits, 1);
        assert_eq!(
            count(&store, "user:a", 3, now + Duration::seconds(60))
                .await
                .unwrap()
                .hits,
            1
        );
    }
}
