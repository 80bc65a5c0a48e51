//! Shared pieces of the property tests: the run's bounds and random JSON.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{Map, Number, Value};

/// A bounded, repeatable run: `cases` cases from a fixed seed, no failure files
/// written into the tree, and no shrinking past a few seconds.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x00C0_FFEE),
        failure_persistence: None,
        max_shrink_time: 10_000,
        ..Config::default()
    }
}

/// The field names the request types know, and a few others, so random objects
/// reach the validation behind the parser rather than stopping at
/// `unknown_field`.
pub fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "content", "username", "password", "email", "chat_id", "provider", "model", "title",
            "end_session", "regenerate", "message", "conversation_id", "time_zone", "old", "new",
            "messages", "role", "max_tokens", "max_completion_tokens", "stream", "stream_options",
            "n", "tools", "include_usage", "name",
        ])
        .prop_map(String::from),
        1 => "[a-z_]{1,12}",
    ]
}

/// Any JSON value up to a few levels deep, with the awkward numbers (beyond i64
/// and u64, fractions, negative zero) and strings (empty, blank, non-ASCII,
/// control characters) that requests carry.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        prop::sample::select(vec![0.0, -0.0, 1e30, -1e300, 1.5, 4097.0]).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "",
            " ",
            "\u{0}",
            "\r\n",
            "Europe/Paris",
            "flan-t5/flan-t5-base",
            "user"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}
