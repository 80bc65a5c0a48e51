//! Key formats of the single table (docs/architecture.md, "DynamoDB"): every partition and sort key
//! the store writes is built here, so the layout is readable in one place.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Attribute names of the table's and its indexes' keys (`infra/table.json`).
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TIME_KEY: &str = "time_key";
pub const OPEN_KEY: &str = "open_key";
pub const REPLY_KEY: &str = "reply_key";
/// The TTL attribute: epoch seconds after which DynamoDB may drop the item.
pub const EXPIRES_AT: &str = "expires_at";
/// Set on a chat's record while it is being deleted: no message may be added.
pub const DELETING: &str = "deleting";

/// Local secondary indexes. Their sort-key attributes are set only on the items that
/// belong in them (sparse), so no query needs a filter that could fight its `Limit`.
pub const BY_TIME: &str = "by_time";
pub const OPEN_CHATS: &str = "open_chats";
pub const BY_REPLY: &str = "by_reply";

pub const PROFILE: &str = "PROFILE";
pub const USERNAME: &str = "USERNAME";
pub const EMAIL: &str = "EMAIL";
pub const TOKEN: &str = "TOKEN";
pub const CHAT: &str = "CHAT";
pub const RATE: &str = "RATE";
pub const TOKEN_PREFIX: &str = "TOKEN#";
pub const CHAT_PREFIX: &str = "CHAT#";
/// Not a prefix of `CHAT#`, so listing a user's chat entries never meets these.
pub const CHAT_NUMBER_PREFIX: &str = "CHATNO#";
pub const MESSAGE_PREFIX: &str = "MSG#";
/// A reply's hold in its user's partition (`store::Hold`).
pub const HOLD_PREFIX: &str = "HOLD#";
/// A personal API key: found by digest (`APIKEY#<digest>` / `APIKEY`) and listed in
/// its owner's partition (`USER#<id>` / `APIKEY#<key id>`, with its counters).
pub const API_KEY: &str = "APIKEY";
pub const API_KEY_PREFIX: &str = "APIKEY#";
/// A share link (`store::ShareLink`): its snapshot, found by the public id
/// (`SHARED#<share_id>` / `SHARE`), its entry in the owner's partition
/// (`USER#<id>` / `SHARE#<link id>`, listed newest first) and its mark in the
/// chat's partition (`CHAT#<id>` / `SHARE#<link id>`, what deleting the chat finds).
pub const SHARE: &str = "SHARE";
pub const SHARE_PREFIX: &str = "SHARE#";
pub const SHARED_PREFIX: &str = "SHARED#";
/// A usage bucket in its user's partition (`store::UsageBucket`), by hour first.
pub const USAGE_PREFIX: &str = "USAGE#";
/// An idempotency key in its user's partition (`store::KeyedRequest`).
pub const IDEMPOTENCY_PREFIX: &str = "IDEM#";

pub fn shared_pk(share_id: &str) -> String {
    format!("{SHARED_PREFIX}{share_id}")
}

pub fn share_sk(id: Uuid) -> String {
    format!("{SHARE_PREFIX}{id}")
}

pub fn api_key_pk(digest: &str) -> String {
    format!("{API_KEY_PREFIX}{digest}")
}

pub fn api_key_entry_sk(id: Uuid) -> String {
    format!("{API_KEY_PREFIX}{id}")
}

/// The sort key of a usage bucket: its hour's start (epoch milliseconds, padded so
/// they sort as numbers), then what it counts.
pub fn usage_sk(hour_ms: i64, provider: &str, model: &str, key_id: Option<Uuid>) -> String {
    let key = key_id.map(|id| id.to_string()).unwrap_or_default();
    format!("{}#{key}#{provider}#{model}", usage_hour_key(hour_ms))
}

/// The part of a usage sort key that bounds a range of hours.
pub fn usage_hour_key(hour_ms: i64) -> String {
    format!("{USAGE_PREFIX}{hour_ms:015}")
}

/// An idempotency key's entry: by the key's digest, so the key is never stored.
pub fn idempotency_sk(key_digest: &str) -> String {
    format!("{IDEMPOTENCY_PREFIX}{key_digest}")
}

pub fn user_pk(id: Uuid) -> String {
    format!("USER#{id}")
}

/// Usernames and emails are unique case-insensitively: their claim items are keyed
/// by the lower-cased value.
pub fn name_key(value: &str) -> String {
    value.to_lowercase()
}

pub fn username_pk(username: &str) -> String {
    format!("USERNAME#{}", name_key(username))
}

pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", name_key(email))
}

pub fn token_pk(digest: &str) -> String {
    format!("{TOKEN_PREFIX}{digest}")
}

/// A token's entry in its owner's partition, so "every token of a user" is one query.
pub fn token_entry_sk(digest: &str) -> String {
    format!("{TOKEN_PREFIX}{digest}")
}

pub fn chat_pk(id: Uuid) -> String {
    format!("{CHAT_PREFIX}{id}")
}

/// A chat's entry in its owner's partition (a copy of the chat with the index keys).
pub fn chat_entry_sk(id: Uuid) -> String {
    format!("{CHAT_PREFIX}{id}")
}

/// A chat's number in its owner's partition (zero-padded, so they sort as numbers):
/// the lookup of dialect ids, and the claim that keeps a number unique.
pub fn chat_number_sk(number: i64) -> String {
    format!("{CHAT_NUMBER_PREFIX}{number:020}")
}

pub fn message_sk(id: Uuid) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

pub fn hold_sk(id: Uuid) -> String {
    format!("{HOLD_PREFIX}{id}")
}

pub fn rate_pk(key: &str) -> String {
    format!("RATE#{key}")
}

/// `<reply_to>#<time key>` on a reply: the versions of one answer, oldest first.
pub fn reply_key(reply_to: Uuid, time: TimeKey) -> String {
    format!("{}{}", reply_prefix(reply_to), time.render())
}

pub fn reply_prefix(reply_to: Uuid) -> String {
    format!("{}#", reply_to.simple())
}

/// A position in (created_at, id) order, the order SQLite sorts by. Rendered with
/// fixed widths, so string order is that order, and every key has an exact
/// neighbour: pages start strictly after (or before) a cursor with an inclusive
/// `BETWEEN`, the one range condition DynamoDB offers on a sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeKey {
    /// Milliseconds since the epoch with the sign bit flipped: negative instants
    /// still sort first.
    millis: u64,
    id: u128,
}

impl TimeKey {
    pub const MIN: TimeKey = TimeKey { millis: 0, id: 0 };
    pub const MAX: TimeKey = TimeKey {
        millis: u64::MAX,
        id: u128::MAX,
    };

    pub fn of(at: DateTime<Utc>, id: Uuid) -> Self {
        Self {
            millis: biased(at),
            id: id.as_u128(),
        }
    }

    /// The first key at `at`: a bound that includes everything from `at` on.
    pub fn start_of(at: DateTime<Utc>) -> Self {
        Self {
            millis: biased(at),
            id: 0,
        }
    }

    /// The key just before this one; `None` before the first.
    pub fn before(self) -> Option<Self> {
        match self.id.checked_sub(1) {
            Some(id) => Some(Self { id, ..self }),
            None => self.millis.checked_sub(1).map(|millis| Self { millis, id: u128::MAX }),
        }
    }

    /// The key just after this one; `None` after the last.
    pub fn after(self) -> Option<Self> {
        match self.id.checked_add(1) {
            Some(id) => Some(Self { id, ..self }),
            None => self.millis.checked_add(1).map(|millis| Self { millis, id: 0 }),
        }
    }

    pub fn render(self) -> String {
        format!("{:020}#{:032x}", self.millis, self.id)
    }
}

fn biased(at: DateTime<Utc>) -> u64 {
    (at.timestamp_millis() as u64) ^ (1 << 63)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rendered_keys_sort_like_created_at_then_id() {
        let early = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap();
        let late = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let (small, big) = (Uuid::from_u128(1), Uuid::from_u128(u128::MAX - 1));
        let ordered = [
            TimeKey::of(early, big),
            TimeKey::of(late, small),
            TimeKey::of(late, big),
            TimeKey::of(late + chrono::Duration::milliseconds(1), small),
        ];
        for pair in ordered.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].render() < pair[1].render(), "{pair:?}");
        }
        assert_eq!(ordered[0].render().len(), ordered[3].render().len());
    }

    #[test]
    fn neighbours_are_exact_and_end_at_the_extremes() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let key = TimeKey::of(at, Uuid::from_u128(7));
        assert_eq!(key.before().unwrap().after().unwrap(), key);
        let first = TimeKey::start_of(at);
        assert!(first.before().unwrap() < first);
        assert!(first.before().unwrap().render() < first.render());
        assert_eq!(first.before().unwrap().after(), Some(first));
        assert_eq!(TimeKey::MIN.before(), None);
        assert_eq!(TimeKey::MAX.after(), None);
        assert!(TimeKey::of(at, Uuid::max()) < TimeKey::start_of(at + chrono::Duration::milliseconds(1)));
    }

    #[test]
    fn name_claims_ignore_case() {
        assert_eq!(username_pk("Alice"), username_pk("aLICE"));
        assert_eq!(email_pk("A@Example.COM"), "EMAIL#a@example.com");
        assert!(reply_key(Uuid::from_u128(5), TimeKey::MIN).starts_with(&reply_prefix(Uuid::from_u128(5))));
    }
}
