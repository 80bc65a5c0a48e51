//! `?limit=` and `?cursor=` (API.md §1). The cursor names the last record of the
//! previous page, so pages stay stable while new records arrive; it is signed and
//! bound to the caller and the list (see `cursor`). A page also ends early when its
//! body would outgrow the response budget (see `budget`): the next cursor then
//! starts after the last record shown, so following cursors still yields every
//! record exactly once.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use uuid::Uuid;

use super::budget::Budget;
use super::call::Call;
use super::cursor::{CursorScope, List};
use crate::error::ApiError;
use crate::store::Page;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// The page of one of the caller's lists that a request asks for.
pub struct Pager<'a> {
    page: Page,
    scope: CursorScope<'a>,
}

impl<'a> Pager<'a> {
    /// Reads `limit` and `cursor`; a cursor must be one given out for this list of
    /// this user.
    pub async fn new(call: &'a Call<'_>, list: List) -> Result<Self, ApiError> {
        let scope = CursorScope {
            key: call.state.cursor_keys().get().await?,
            user_id: call.user()?.id,
            list,
        };
        let limit = match call.query_param("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => parse_limit(raw)?,
        };
        let after = call
            .query_param("cursor")
            .filter(|c| !c.is_empty())
            .map(|c| scope.decode(c))
            .transpose()?;
        Ok(Self {
            page: Page { limit, after },
            scope,
        })
    }

    /// What to ask the store for: one record more than the page, so whether a next
    /// page exists is known without a second query.
    pub fn store_page(&self) -> Page {
        Page {
            limit: self.page.limit + 1,
            ..self.page
        }
    }

    /// The page's records (the extra one cut off) and the paging state that gives
    /// the next cursor once the caller knows how many it showed.
    pub fn keep<R>(self, mut records: Vec<R>, id_of: impl Fn(&R) -> Uuid) -> (Vec<R>, Paging<'a>) {
        let more = records.len() > self.page.limit;
        records.truncate(self.page.limit);
        let ids = records.iter().map(id_of).collect();
        let paging = Paging {
            scope: self.scope,
            ids,
            more,
            budget: Budget::body(),
        };
        (records, paging)
    }
}

/// `limit`: 1–100.
fn parse_limit(raw: &str) -> Result<usize, ApiError> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "limit",
                format!("`limit` must be a whole number from 1 to {MAX_LIMIT}."),
            )
        })
}

/// A page being shown: its records' ids and the body budget its views draw on.
pub struct Paging<'a> {
    scope: CursorScope<'a>,
    ids: Vec<Uuid>,
    more: bool,
    pub budget: Budget,
}

impl Paging<'_> {
    /// The next page's cursor when the body showed the first `shown` records: after
    /// the last one shown when the budget ended the page early, else after the
    /// page's last record if the store had more.
    pub fn next_cursor(&self, shown: usize) -> Option<String> {
        let last_shown = shown.checked_sub(1).and_then(|i| self.ids.get(i))?;
        (shown < self.ids.len() || self.more).then(|| self.scope.encode(*last_shown))
    }
}

/// What a path may not carry raw between the `<…>` of a Link header: controls (a
/// CR or LF would end the header), space, quotes and angle brackets (would end the
/// URL). `%` stays, so the escapes the client sent stay as they were.
const LINK_PATH: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');

/// `Link: <path?…&cursor=…>; rel="next"`, keeping the request's other query
/// parameters. The path and query are escaped: nothing the client sent can end
/// the header or the URL.
pub fn next_link(call: &Call, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut keys: Vec<_> = call.query.iter().filter(|(k, _)| k.as_str() != "cursor").collect();
    keys.sort();
    for (key, value) in keys {
        query.append_pair(key, value);
    }
    query.append_pair("cursor", cursor);
    let path = utf8_percent_encode(&call.path(), LINK_PATH).to_string();
    format!("<{path}?{}>; rel=\"next\"", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CursorKey;

    fn paging(key: &CursorKey, ids: Vec<Uuid>, more: bool) -> Paging<'_> {
        let scope = CursorScope {
            key,
            user_id: Uuid::now_v7(),
            list: List::Chats,
        };
        Paging {
            scope,
            ids,
            more,
            budget: Budget::body(),
        }
    }

    #[test]
    fn limits_outside_1_to_100_are_refused() {
        assert_eq!(parse_limit(" 7 ").unwrap(), 7);
        for bad in ["0", "101", "-1", "1e2", "", "99999999999999999999999"] {
            assert_eq!(parse_limit(bad).unwrap_err().body()["field"], "limit", "{bad}");
        }
    }

    #[test]
    fn the_next_cursor_follows_the_last_record_shown() {
        let key = CursorKey::random();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let decode = |p: &Paging, c: String| p.scope.decode(&c).unwrap();
        // All three shown, and the store had no more: the last page.
        let p = paging(&key, ids.clone(), false);
        assert_eq!(p.next_cursor(3), None);
        // All shown, the store had more: after the third.
        let p = paging(&key, ids.clone(), true);
        assert_eq!(decode(&p, p.next_cursor(3).unwrap()), ids[2]);
        // The budget ended the page after two: after the second, more or not.
        let p = paging(&key, ids.clone(), false);
        assert_eq!(decode(&p, p.next_cursor(2).unwrap()), ids[1]);
        // An empty page has no next one.
        assert_eq!(paging(&key, vec![], true).next_cursor(0), None);
    }
}
