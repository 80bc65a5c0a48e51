//! Instants are stored in UTC; dialect A shows them as `DD/MM/YYYY HH:MM:SS` in a
//! display zone chosen per request, per user, or by configuration (API.md §1).

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

use crate::error::ApiError;

/// ISO 8601 in UTC with millisecond precision, as every `*_at` field carries it.
pub fn iso(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `DD/MM/YYYY HH:MM:SS` in `zone`.
pub fn display(instant: DateTime<Utc>, zone: Tz) -> String {
    instant.with_timezone(&zone).format("%d/%m/%Y %H:%M:%S").to_string()
}

/// Parses an IANA zone name given by a client; `field` names where it came from.
pub fn parse_zone(name: &str, field: &str) -> Result<Tz, ApiError> {
    Tz::from_str(name.trim()).map_err(|_| {
        ApiError::invalid_field(
            field,
            format!("Unknown time zone {name:?}: use an IANA name such as Europe/Paris."),
        )
    })
}

/// A named span of days in the display zone, resolved against "now" on every request
/// (never once at start-up, which would freeze "today" in a warm container).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Today,
    Yesterday,
    /// The seven days that end with today, today included.
    Week,
    /// Dialect D's "seven days": the seven days before yesterday.
    EarlierWeek,
}

impl Period {
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "today" => Ok(Self::Today),
            "yesterday" => Ok(Self::Yesterday),
            "week" => Ok(Self::Week),
            _ => Err(ApiError::invalid_field(
                "period",
                "period must be one of today, yesterday, week.",
            )),
        }
    }

    /// `[from, to)` in UTC.
    pub fn range(self, now: DateTime<Utc>, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let today = now.with_timezone(&zone).date_naive();
        let (first, last) = match self {
            Self::Today => (today, today),
            Self::Yesterday => (days_before(today, 1), days_before(today, 1)),
            Self::Week => (days_before(today, 6), today),
            Self::EarlierWeek => (days_before(today, 8), days_before(today, 2)),
        };
        (start_of_day(first, zone), start_of_day(last + Days::new(1), zone))
    }
}

fn days_before(day: NaiveDate, n: u64) -> NaiveDate {
    day - Days::new(n)
}

/// Midnight of `day` in `zone`; on a day whose midnight a DST jump skips, the first
/// instant that exists.
pub fn start_of_day(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let mut local = day.and_time(NaiveTime::MIN);
    for _ in 0..48 {
        if let Some(instant) = zone.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn display_renders_in_the_zone() {
        let instant = at("2026-03-01T20:30:05Z");
        assert_eq!(display(instant, chrono_tz::Asia::Karachi), "02/03/2026 01:30:05");
        assert_eq!(display(instant, chrono_tz::Europe::Paris), "01/03/2026 21:30:05");
        assert_eq!(iso(instant), "2026-03-01T20:30:05.000Z");
    }

    #[test]
    fn unknown_zones_are_a_400_naming_the_field() {
        let err = parse_zone("Nowhere/Special", "tz").unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert_eq!(err.body()["field"], "tz");
        assert_eq!(parse_zone("Europe/Paris", "tz").unwrap(), chrono_tz::Europe::Paris);
    }

    #[test]
    fn periods_follow_the_display_zone() {
        // 21:00 UTC is already the next day in Karachi (UTC+5).
        let now = at("2026-03-01T21:00:00Z");
        let zone = chrono_tz::Asia::Karachi;
        let (from, to) = Period::Today.range(now, zone);
        assert_eq!(from, at("2026-03-01T19:00:00Z"));
        assert_eq!(to, at("2026-03-02T19:00:00Z"));
        let (from, to) = Period::Yesterday.range(now, zone);
        assert_eq!((from, to), (at("2026-02-28T19:00:00Z"), at("2026-03-01T19:00:00Z")));
        let (from, to) = Period::Week.range(now, zone);
        assert_eq!((from, to), (at("2026-02-23T19:00:00Z"), at("2026-03-02T19:00:00Z")));
        let (from, to) = Period::EarlierWeek.range(now, zone);
        assert_eq!((from, to), (at("2026-02-21T19:00:00Z"), at("2026-02-28T19:00:00Z")));
    }

    #[test]
    fn a_day_that_starts_in_a_dst_gap_starts_at_its_first_instant() {
        // Santiago skipped 00:00–01:00 on 2022-09-11.
        let zone = chrono_tz::America::Santiago;
        let start = start_of_day(NaiveDate::from_ymd_opt(2022, 9, 11).unwrap(), zone);
        assert_eq!(start, at("2022-09-11T04:00:00Z"));
    }

    #[test]
    fn unknown_periods_are_rejected() {
        assert_eq!(Period::parse("month").unwrap_err().body()["field"], "period");
    }
}
