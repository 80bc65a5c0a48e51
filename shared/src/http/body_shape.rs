//! Structural limits on a JSON body, checked in one pass before it is read into a
//! request type: how deep it nests and whether an object repeats a key. Without
//! this pass the outcome would depend on the type: serde's derived structs refuse
//! a repeated field while the maps and ignored fields some bodies have keep the
//! last one silently, and serde_json's own depth limit (128) reports a syntax
//! error at some column.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::ApiError;

/// The deepest nesting of objects and arrays a body may have. The deepest real
/// body (an OpenAI message whose content is a list of parts) nests 4 levels.
pub const MAX_JSON_DEPTH: usize = 32;

/// What the pass found wrong; anything else (malformed JSON) is left to the
/// reading that follows, which names the place.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Violation {
    TooDeep,
    DuplicateKey(String),
}

/// Checks `bytes` (a JSON document) for nesting deeper than [`MAX_JSON_DEPTH`] and
/// for an object that repeats a key: a 400 naming the problem, else `Ok` (also
/// for JSON that does not parse: the reader reports that).
pub fn check_shape(bytes: &[u8]) -> Result<(), ApiError> {
    let found = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Shape {
        depth: 0,
        found: &found,
    }
    .deserialize(&mut de);
    match found.into_inner() {
        None => Ok(()),
        Some(Violation::TooDeep) => Err(ApiError::bad_request(
            "too_deeply_nested",
            format!("The body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep."),
        )),
        Some(Violation::DuplicateKey(key)) => Err(ApiError::bad_request(
            "duplicate_key",
            format!("The key `{key}` appears twice in one object."),
        )
        .with("field", key)),
    }
}

/// One value at `depth`; records the first violation in `found` and stops.
#[derive(Clone, Copy)]
struct Shape<'f> {
    depth: usize,
    found: &'f Cell<Option<Violation>>,
}

impl Shape<'_> {
    /// The shape of a value one level down, or the violation if that is too deep.
    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(self.stop(Violation::TooDeep));
        }
        Ok(Shape {
            depth: self.depth + 1,
            found: self.found,
        })
    }

    fn stop<E: serde::de::Error>(self, violation: Violation) -> E {
        self.found.set(Some(violation));
        E::custom("body shape")
    }
}

impl<'de> DeserializeSeed<'de> for Shape<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shape<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(self.stop(Violation::DuplicateKey(key)));
            }
            map.next_value_seed(inner)?;
            seen.insert(key);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    // Scalars: nothing to check.
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_is_a_400() {
        assert!(check_shape(nested(MAX_JSON_DEPTH).as_bytes()).is_ok());
        let err = check_shape(nested(MAX_JSON_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (400, "too_deeply_nested"));
        // Far past serde_json's own limit (128), and mixing objects and arrays.
        let deep = format!("{}1{}", r#"{"a":["#.repeat(10_000), "]}".repeat(10_000));
        assert_eq!(check_shape(deep.as_bytes()).unwrap_err().code, "too_deeply_nested");
    }

    #[test]
    fn a_repeated_key_is_a_400_naming_it_at_any_depth() {
        let err = check_shape(br#"{"content": "a", "content": "b"}"#).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (400, "duplicate_key"));
        assert_eq!(err.body()["field"], "content");
        let err = check_shape(br#"{"messages": [{"role": "user", "role": "system"}]}"#).unwrap_err();
        assert_eq!(err.body()["field"], "role");
        // An escaped spelling of the same key is the same key.
        assert!(check_shape(br#"{"a": 1, "\u0061": 2}"#).is_err());
        // The same key in two objects is fine.
        assert!(check_shape(br#"{"a": {"k": 1}, "b": {"k": 2}}"#).is_ok());
    }

    #[test]
    fn malformed_json_is_left_to_the_reader() {
        for bad in [&b"{\"a\": "[..], b"{]", b"\xff", b"1e400"] {
            assert!(check_shape(bad).is_ok(), "{bad:?}");
        }
    }
}
