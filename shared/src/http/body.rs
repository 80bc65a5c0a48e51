//! JSON bodies: size, media type and shape checked before a handler sees them, with
//! errors that name the offending field.

use http::StatusCode;
use serde::de::DeserializeOwned;

use super::body_shape::check_shape;
use crate::error::ApiError;

/// The largest body any route accepts (API.md §1).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest message content, in characters.
pub const MAX_MESSAGE_CHARS: usize = 16_000;

/// The largest body of an import (`POST /api/import/`): a whole export or a ChatGPT
/// `conversations.json` up to this size in one call, below Lambda's 6 MB payload.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

/// Parses a JSON body. An empty body parses as `{}`, so routes whose fields are all
/// optional accept no body; routes with required fields then report the missing one.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], content_type: Option<&str>) -> Result<T, ApiError> {
    let blank = bytes.iter().all(u8::is_ascii_whitespace);
    checked(bytes, content_type, MAX_BODY_BYTES, blank)?;
    let bytes: &[u8] = if blank { b"{}" } else { bytes };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // serde would read a struct from an array too; no client means that.
        return Err(ApiError::bad_request("invalid_json", "The body must be a JSON object."));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end()
        .map_err(|_| ApiError::bad_request("invalid_json", "The body must be a single JSON value."))?;
    Ok(value)
}

/// Parses a JSON document of any shape up to `limit` bytes (an import), with the
/// same checks of size, media type, encoding and structure as every body.
pub fn parse_document(bytes: &[u8], content_type: Option<&str>, limit: usize) -> Result<serde_json::Value, ApiError> {
    checked(bytes, content_type, limit, false)?;
    serde_json::from_slice(bytes).map_err(|err| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "The body is not valid JSON (line {}, column {}).",
                err.line(),
                err.column()
            ),
        )
    })
}

/// Size, media type (not asked of a `blank` body), UTF-8 and structure.
fn checked(bytes: &[u8], content_type: Option<&str>, limit: usize, blank: bool) -> Result<(), ApiError> {
    if bytes.len() > limit {
        let limit = if limit >= 1024 * 1024 {
            format!("{} MiB", limit / (1024 * 1024))
        } else {
            format!("{} KiB", limit / 1024)
        };
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("The request body is larger than {limit}."),
        ));
    }
    if !blank && !content_type.is_some_and(is_json_media_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        ));
    }
    // JSON is UTF-8 (RFC 8259). serde checks only the strings it reads, so a bad
    // byte in a field a route ignores would otherwise pass unseen.
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::bad_request("invalid_json", "The body is not UTF-8 text."));
    }
    check_shape(bytes)
}

pub(crate) fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn describe(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            "invalid_json",
            format!(
                "The body is not valid JSON (line {}, column {}).",
                inner.line(),
                inner.column()
            ),
        ),
        Category::Data => {
            let text = inner.to_string();
            // serde reports the offending name in backticks for unknown and missing fields.
            let quoted = text.split('`').nth(1).map(str::to_string);
            let join = |name: &str| {
                if path == "." || path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }
            };
            let detail = text.split(" at line ").next().unwrap_or(&text).to_string();
            if text.starts_with("unknown field") {
                // The path already ends with the unknown name.
                let field = if path == "." || path.is_empty() {
                    quoted.unwrap_or_default()
                } else {
                    path.clone()
                };
                ApiError::bad_request("unknown_field", format!("Unknown field `{field}`.")).with("field", field)
            } else if text.starts_with("missing field") {
                let field = join(&quoted.unwrap_or_default());
                ApiError::missing_field(&field)
            } else if path == "." || path.is_empty() {
                ApiError::bad_request("invalid_json", format!("The body must be a JSON object: {detail}."))
            } else {
                ApiError::invalid_field(&path, format!("Invalid value for `{path}`: {detail}."))
            }
        }
    }
}

/// Checks a message's content: present, not blank, not over the length limit.
/// A field the body's shape may leave out but the route needs.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::missing_field(field))
}

pub fn message_content(content: &str, field: &str) -> Result<String, ApiError> {
    if content.trim().is_empty() {
        return Err(ApiError::invalid_field(field, format!("`{field}` must not be empty.")));
    }
    if content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_long",
            format!("`{field}` is longer than {MAX_MESSAGE_CHARS} characters."),
        )
        .with("field", field));
    }
    Ok(content.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        content: String,
        #[serde(default)]
        nested: Option<Nested>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        old: String,
    }

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn parses_a_valid_body() {
        let body: Body = parse_json(br#"{"content":"hi"}"#, JSON).unwrap();
        assert_eq!(body.content, "hi");
    }

    #[test]
    fn names_the_failing_field() {
        let err = parse_json::<Body>(br#"{"content": 5}"#, JSON).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.body()["field"].as_str()),
            (400, Some("content"))
        );
        let err = parse_json::<Body>(br#"{"content":"x","conent":"y"}"#, JSON).unwrap_err();
        assert_eq!(
            (err.code, err.body()["field"].as_str()),
            ("unknown_field", Some("conent"))
        );
        let err = parse_json::<Body>(br#"{}"#, JSON).unwrap_err();
        assert_eq!(
            (err.code, err.body()["field"].as_str()),
            ("missing_field", Some("content"))
        );
        let err = parse_json::<Body>(br#"{"content":"x","nested":{"new":"y"}}"#, JSON).unwrap_err();
        assert_eq!(err.body()["field"], "nested.new");
    }

    #[test]
    fn rejects_malformed_and_non_object_bodies() {
        assert_eq!(
            parse_json::<Body>(br#"{"content":"#, JSON).unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(parse_json::<Body>(br#"[1,2]"#, JSON).unwrap_err().code, "invalid_json");
        assert_eq!(
            parse_json::<Body>(br#"{"content":"x"} {}"#, JSON).unwrap_err().code,
            "invalid_json"
        );
    }

    #[test]
    fn a_document_may_be_any_json_up_to_its_own_limit() {
        assert_eq!(parse_document(b"[1, {\"a\": 2}]", JSON, 100).unwrap()[1]["a"], 2);
        let err = parse_document(&[b' '; 101], JSON, 100).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (413, "body_too_large"));
        assert_eq!(parse_document(b"[1,", JSON, 100).unwrap_err().code, "invalid_json");
        assert_eq!(
            parse_document(b"[]", Some("text/plain"), 100)
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
        assert_eq!(
            parse_document(b"[\"\xff\"]", JSON, 100).unwrap_err().code,
            "invalid_json"
        );
        let err = parse_document(br#"{"a": 1, "a": 2}"#, JSON, 100).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert!(parse_document(&[b' '; 6 * 1024 * 1024 + 1], JSON, MAX_IMPORT_BYTES)
            .unwrap_err()
            .message
            .contains("5 MiB"));
    }

    #[test]
    fn checks_size_and_media_type() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_json::<Body>(&big, JSON).unwrap_err().status.as_u16(), 413);
        assert_eq!(
            parse_json::<Body>(br#"{"content":"x"}"#, Some("text/plain"))
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
        assert_eq!(
            parse_json::<Body>(br#"{"content":"x"}"#, None)
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
        // No body needs no media type; it reads as an empty object.
        assert_eq!(parse_json::<Body>(b"", None).unwrap_err().code, "missing_field");
    }

    #[test]
    fn message_content_rules() {
        assert!(message_content("  ", "content").is_err());
        assert_eq!(
            message_content(&"é".repeat(MAX_MESSAGE_CHARS), "content")
                .unwrap()
                .chars()
                .count(),
            MAX_MESSAGE_CHARS
        );
        let err = message_content(&"é".repeat(MAX_MESSAGE_CHARS + 1), "content").unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
    }
}
