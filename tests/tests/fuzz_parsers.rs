//! Property tests of what parses untrusted input before any handler runs: request
//! bodies into every request type, page cursors, and the route matcher. Random
//! inputs from a fixed seed and a fixed number of cases, so a run is bounded and
//! repeatable; the outcome must always be a value or a 4xx error, never a panic.

use chatbot_core::config::CursorKey;
use chatbot_core::error::ApiError;
use chatbot_core::http::body::parse_json;
use chatbot_core::http::cursor::{CursorScope, List};
use chatbot_core::routes::{lookup, match_path, Lookup, ROUTES};
use chatbot_core::surfaces::accounts::shapes::users::{LoginRequest, RegisterRequest, UpdateProfileRequest};
use chatbot_core::surfaces::chats::shapes::chats::{
    EditMessageRequest, RegenerateRequest, SendChatRequest, UpdateChatRequest,
};
use chatbot_core::surfaces::conversations::shapes::{
    CreateConversationRequest, DialectChatRequest, RegenerateConversationRequest, RenameConversationRequest,
};
use chatbot_core::surfaces::openai::handlers::CompletionRequest;
use chatbot_core::surfaces::prompts::shapes::PromptRequest;
use chatbot_core::surfaces::threads::shapes::{EMessageRequest, ETitleRequest};
use chatbot_tests::fuzz::{config, json_value};
use proptest::prelude::*;
use serde::de::DeserializeOwned;

/// Parses `bytes` as `T`; an error must be a client error.
fn parses_or_refuses<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(err) = parse_json::<T>(bytes, Some("application/json")) {
        check_client_error(&err)?;
    }
    Ok(())
}

fn check_client_error(err: &ApiError) -> Result<(), TestCaseError> {
    prop_assert!(err.status.is_client_error(), "{} {}", err.status, err.message);
    prop_assert!(!err.code.is_empty());
    Ok(())
}

/// Every request type a route reads its body into.
fn every_request_type(bytes: &[u8]) -> Result<(), TestCaseError> {
    parses_or_refuses::<RegisterRequest>(bytes)?;
    parses_or_refuses::<LoginRequest>(bytes)?;
    parses_or_refuses::<UpdateProfileRequest>(bytes)?;
    parses_or_refuses::<SendChatRequest>(bytes)?;
    parses_or_refuses::<UpdateChatRequest>(bytes)?;
    parses_or_refuses::<EditMessageRequest>(bytes)?;
    parses_or_refuses::<RegenerateRequest>(bytes)?;
    parses_or_refuses::<CreateConversationRequest>(bytes)?;
    parses_or_refuses::<DialectChatRequest>(bytes)?;
    parses_or_refuses::<RenameConversationRequest>(bytes)?;
    parses_or_refuses::<RegenerateConversationRequest>(bytes)?;
    parses_or_refuses::<PromptRequest>(bytes)?;
    parses_or_refuses::<EMessageRequest>(bytes)?;
    parses_or_refuses::<ETitleRequest>(bytes)?;
    parses_or_refuses::<CompletionRequest>(bytes)?;
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_bytes_are_a_request_or_a_4xx(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        every_request_type(&bytes)?;
    }

    #[test]
    fn any_json_is_a_request_or_a_4xx(value in json_value()) {
        every_request_type(value.to_string().as_bytes())?;
    }

    #[test]
    fn any_json_object_with_known_field_names_is_a_request_or_a_4xx(
        fields in proptest::collection::vec((chatbot_tests::fuzz::field_name(), json_value()), 0..6)
    ) {
        let object: serde_json::Map<_, _> = fields.into_iter().collect();
        every_request_type(serde_json::Value::Object(object).to_string().as_bytes())?;
    }

    #[test]
    fn any_cursor_string_is_refused_with_a_400_naming_it(cursor in prop_oneof![any::<String>(), "[A-Za-z0-9_=-]{0,64}"]) {
        let key = CursorKey::new(b"fuzzing-key-fuzzing-key-fuzzing-key".to_vec());
        let scope = CursorScope { key: &key, user_id: uuid::Uuid::nil(), list: List::Chats };
        // Nothing but a cursor this key signed decodes: random text never is one.
        let err = scope.decode(&cursor).unwrap_err();
        prop_assert_eq!(err.status.as_u16(), 400);
        prop_assert_eq!(&err.body()["field"], "cursor");
    }

    #[test]
    fn a_signed_cursor_round_trips_and_any_one_changed_character_is_refused(
        record in any::<u128>(), at in 0usize..43, with in "[A-Za-z0-9_-]"
    ) {
        let key = CursorKey::new(b"fuzzing-key-fuzzing-key-fuzzing-key".to_vec());
        let scope = CursorScope { key: &key, user_id: uuid::Uuid::nil(), list: List::Chats };
        let record = uuid::Uuid::from_u128(record);
        let cursor = scope.encode(record);
        prop_assert_eq!(scope.decode(&cursor).unwrap(), record);
        let mut chars: Vec<char> = cursor.chars().collect();
        let replacement = with.chars().next().unwrap();
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        // The last character carries spare bits base64 ignores: it may decode to
        // the same bytes, and then it is the same cursor.
        if let Ok(decoded) = scope.decode(&changed) {
            prop_assert_eq!(at, 42);
            prop_assert_eq!(decoded, record);
        }
    }

    #[test]
    fn any_method_and_path_is_a_route_a_404_or_a_405(
        method in prop_oneof![
            Just("GET".to_string()), Just("POST".to_string()), Just("PUT".to_string()),
            Just("PATCH".to_string()), Just("DELETE".to_string()), Just("OPTIONS".to_string()),
            "[A-Za-z]{0,8}",
        ],
        path in prop_oneof![
            any::<String>(),
            // Paths shaped like the table's, so some match.
            "(/(api|v1|chat|auth|chats|threads|conversations|messages|stream|[a-z0-9%{}._-]{1,12})){0,6}/?",
        ],
    ) {
        match lookup(&method, &path) {
            Lookup::Found(route, _) => {
                prop_assert!(route.method.eq_ignore_ascii_case(&method));
                prop_assert!(match_path(route.path, &path).is_some());
            }
            Lookup::MethodNotAllowed(allowed) => {
                prop_assert!(!allowed.is_empty());
                prop_assert!(allowed.iter().all(|m| !m.eq_ignore_ascii_case(&method)));
            }
            Lookup::NotFound => {}
        }
    }

    /// Every table path with random ids, with and without its trailing slash,
    /// finds its own route with those ids.
    #[test]
    fn every_route_with_random_ids_resolves_to_itself(
        uuid in any::<[u8; 16]>(),
        number in 1..i64::MAX,
        username in "[A-Za-z0-9._~-]{1,24}",
        slash in any::<bool>(),
    ) {
        let uuid = uuid::Uuid::from_bytes(uuid).to_string();
        for route in ROUTES {
            let path = route
                .path
                .replace("{chat_id}", &uuid)
                .replace("{message_id}", &uuid)
                .replace("{key_id}", &uuid)
                .replace("{share_id}", &username)
                .replace("{conversation_id}", &number.to_string())
                .replace("{id}", &number.to_string())
                .replace("{username}", &username)
                .replace("{file}", &username);
            // The root is "/" whatever the client wrote: a path is never empty.
            let path = if slash || path == "/" { path } else { path.trim_end_matches('/').to_string() };
            match lookup(route.method, &path) {
                Lookup::Found(found, params) => {
                    prop_assert_eq!((found.method, found.path), (route.method, route.path), "{}", path);
                    for (name, value) in &params {
                        let expected = match name.as_str() {
                            "chat_id" | "message_id" | "key_id" => uuid.clone(),
                            "username" | "file" | "share_id" => username.clone(),
                            _ => number.to_string(),
                        };
                        prop_assert_eq!(value, &expected);
                    }
                }
                _ => prop_assert!(false, "{} {} did not resolve", route.method, path),
            }
        }
    }
}
