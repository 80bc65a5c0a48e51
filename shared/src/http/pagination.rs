//! `?limit=` and `?cursor=` (API.md §1): the cursor is an opaque token for the last
//! record of the previous page, so pages stay stable while new records arrive.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use uuid::Uuid;

use super::call::Call;
use crate::error::ApiError;
use crate::store::Page;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::invalid_field("cursor", "The cursor is not one this API gave out."))
}

/// The page a request asks for. The store is asked for one record more, so the
/// handler knows whether a next page exists without a second query.
pub fn requested_page(call: &Call) -> Result<Page, ApiError> {
    let limit = match call.query_param("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!("`limit` must be a whole number from 1 to {MAX_LIMIT}."),
                )
            })?,
    };
    let after = call
        .query_param("cursor")
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    Ok(Page { limit, after })
}

/// Cuts the one extra record off and returns the cursor of the next page, if any.
pub fn split_page<T>(mut records: Vec<T>, page: Page, id_of: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
    if records.len() > page.limit {
        records.truncate(page.limit);
        let next = records.last().map(|r| encode_cursor(id_of(r)));
        (records, next)
    } else {
        (records, None)
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

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert_eq!(decode_cursor("not a cursor").unwrap_err().body()["field"], "cursor");
        assert!(decode_cursor("AAAA").is_err());
    }

    #[test]
    fn split_page_reports_a_next_page_only_when_there_is_one() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (kept, next) = split_page(ids.clone(), Page::first(2), |id| *id);
        assert_eq!(kept.len(), 2);
        assert_eq!(decode_cursor(&next.unwrap()).unwrap(), ids[1]);
        let (kept, next) = split_page(ids, Page::first(3), |id| *id);
        assert_eq!((kept.len(), next), (3, None));
    }
}
