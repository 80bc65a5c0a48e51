//! What every route shares (API.md §1): JSON errors, methods, media types, body
//! limits, trailing slashes, CORS; and the meta routes.

use chatbot_core::routes::ROUTES;
use chatbot_tests::{assert_error, concrete_path, TestApp};
use serde_json::json;
use std::collections::HashMap;

fn json_headers(token: &str) -> HashMap<String, String> {
    HashMap::from([
        ("authorization".to_string(), format!("Token {token}")),
        ("content-type".to_string(), "application/json".to_string()),
    ])
}

/// A concrete path for a route pattern, with ids nobody owns.
fn concrete(pattern: &str) -> String {
    let (chat, message) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    concrete_path(pattern, &chat.to_string(), &message.to_string(), 1)
}

#[tokio::test]
async fn every_protected_route_answers_401_json_without_a_token() {
    let app = TestApp::new().await;
    for route in ROUTES.iter().filter(|r| r.access == chatbot_core::routes::Access::User) {
        // A bad `tz` is not looked at before the caller is known: 401 comes first.
        let path = format!("{}?tz=Nowhere/Else", concrete(route.path));
        let response = app.call(route.method, &path, None, None).await;
        if route.errors == chatbot_core::routes::Errors::OpenAi {
            // OpenAI's clients read `{"error": {"message", "type", …}}`.
            assert_eq!(response.status, 401);
            assert_eq!(response.body["error"]["type"], "authentication_error", "{path}");
            assert_eq!(response.body["error"]["code"], "not_authenticated");
        } else {
            assert_eq!(
                assert_error(&response, 401),
                "not_authenticated",
                "{} {path}",
                route.method
            );
        }
        assert_eq!(response.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn every_route_answers_with_and_without_its_trailing_slash() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    // An administrator, so the admins' routes answer too.
    chatbot_admin::grant(app.state.store.as_ref(), "alice").await.unwrap();
    for route in ROUTES.iter().filter(|r| r.method == "GET") {
        let path = concrete(route.path);
        let with = app.call("GET", &path, Some(&token), None).await;
        let without = app.call("GET", path.trim_end_matches('/'), Some(&token), None).await;
        assert_eq!(with.status, without.status, "{path}");
        assert_ne!(with.status, 405, "{path}");
        assert!(with.status == 200 || with.status == 404, "{path}: {}", with.text);
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let missing = app.call("GET", "/api/nothing-here/", Some(&token), None).await;
    assert_eq!(assert_error(&missing, 404), "not_found");
    let wrong = app.call("PUT", "/api/chats/", Some(&token), Some(json!({}))).await;
    assert_eq!(assert_error(&wrong, 405), "method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("POST, GET, DELETE"));
    let wrong = app.call("POST", "/api/health", None, None).await;
    assert_eq!(wrong.header("allow"), Some("GET"));
    // A literal segment wins over a parameter: this is the stream route, not
    // a chat whose id is "stream".
    let wrong = app.call("GET", "/api/chats/stream/", Some(&token), None).await;
    assert_eq!(assert_error(&wrong, 405), "method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("POST"));
}

#[tokio::test]
async fn bodies_must_be_json_objects_of_at_most_64_kib() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let send = |headers: HashMap<String, String>, body: &str| {
        app.send("POST", "/api/chats/", headers, Some(body.to_string()), "127.0.0.1")
    };
    let malformed = send(json_headers(&token), "{\"content\": \"unterminated").await;
    assert_eq!(assert_error(&malformed, 400), "invalid_json");
    let array = send(json_headers(&token), "[\"content\"]").await;
    assert_eq!(assert_error(&array, 400), "invalid_json");
    let scalar = send(json_headers(&token), "42").await;
    assert_error(&scalar, 400);
    let unknown = send(json_headers(&token), r#"{"content": "hi", "temperature": 2}"#).await;
    assert_eq!(assert_error(&unknown, 400), "unknown_field");
    assert_eq!(unknown.body["field"], "temperature");
    let wrong_type = send(json_headers(&token), r#"{"content": ["hi"]}"#).await;
    assert_eq!(wrong_type.body["field"], "content");
    let mut plain = json_headers(&token);
    plain.insert("content-type".into(), "text/plain".into());
    assert_eq!(
        assert_error(&send(plain, r#"{"content": "hi"}"#).await, 415),
        "unsupported_media_type"
    );
    let mut none = json_headers(&token);
    none.remove("content-type");
    assert_error(&send(none, r#"{"content": "hi"}"#).await, 415);
    let mut charset = json_headers(&token);
    charset.insert("content-type".into(), "application/json; charset=UTF-8".into());
    assert_eq!(send(charset, r#"{"content": "hi"}"#).await.status, 201);
    let huge = format!(r#"{{"content": "{}"}}"#, "a".repeat(70 * 1024));
    assert_eq!(
        assert_error(&send(json_headers(&token), &huge).await, 413),
        "body_too_large"
    );
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await.body;
    assert_eq!(balance["requests"], 1, "only the valid request was charged");
}

#[tokio::test]
async fn invalid_uuids_in_paths_are_400_naming_the_parameter() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    for (method, path, field) in [
        ("GET", "/api/chats/1234/", "chat_id"),
        ("DELETE", "/api/chats/%F0%9F%98%80/", "chat_id"),
        (
            "PATCH",
            &format!("/api/chats/{}/messages/nope/", uuid::Uuid::now_v7()) as &str,
            "message_id",
        ),
    ] {
        let response = app
            .call(method, path, Some(&token), Some(json!({"content": "x", "title": "x"})))
            .await;
        assert_eq!(assert_error(&response, 400), "invalid_field", "{method} {path}");
        assert_eq!(response.body["field"], field);
    }
}

#[tokio::test]
async fn errors_never_leak_internal_text() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    app.provider.set(chatbot_tests::Behaviour::Fail(
        chatbot_core::llm::ProviderError::Failed("The model returned nothing.".into()),
    ));
    let response = app
        .call("POST", "/api/chats/", Some(&token), Some(json!({"content": "hi"})))
        .await;
    assert_error(&response, 502);
    for needle in ["sqlite", "panicked", "rusqlite", "/work/", "src/"] {
        assert!(
            !response.text.to_lowercase().contains(needle),
            "{needle} in {}",
            response.text
        );
    }
}

#[tokio::test]
async fn cors_headers_go_only_to_allowed_origins_and_preflight_is_answered() {
    let app = TestApp::with_vars(&[("CORS_ALLOWED_ORIGINS", "https://app.example, http://localhost:5173")]).await;
    let from = |origin: &str| HashMap::from([("origin".to_string(), origin.to_string())]);
    let allowed = app
        .send("GET", "/api/health/", from("https://app.example"), None, "127.0.0.1")
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(allowed
        .header("access-control-expose-headers")
        .unwrap()
        .contains("Retry-After"));
    let other = app
        .send("GET", "/api/health/", from("https://evil.example"), None, "127.0.0.1")
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let preflight = app
        .send(
            "OPTIONS",
            "/api/chats/",
            from("http://localhost:5173"),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PATCH"));
    assert!(preflight
        .header("access-control-allow-headers")
        .unwrap()
        .contains("Authorization"));
}

#[tokio::test]
async fn health_models_tokens_and_openapi() {
    let app = TestApp::new().await;
    let health = app.call("GET", "/api/health/", None, None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.body["store"], chatbot_tests::test_store());
    assert_eq!(health.body["version"], env!("CARGO_PKG_VERSION"));
    let token = app.register("alice").await;
    let models = app.call("GET", "/api/models/", Some(&token), None).await;
    let list = models.body.as_array().unwrap();
    let echo = list.iter().find(|m| m["id"] == "scripted/echo").unwrap();
    assert_eq!(
        (echo["default"].as_bool(), echo["available"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(echo["reason"], json!(null));
    let flan = list.iter().find(|m| m["id"] == "flan-t5/flan-t5-base").unwrap();
    assert_eq!(
        (flan["provider"].as_str(), flan["available"].as_bool()),
        (Some("flan-t5"), Some(false))
    );
    assert_eq!(
        flan["reason"], "Flan-T5 is not available on this server.",
        "no setting named to users"
    );
    assert_eq!(list.iter().filter(|m| m["default"] == true).count(), 1);
    let tokens = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(tokens.body, json!({"tokens": 4000, "spent": 0, "requests": 0}));
    let doc = app.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc.body["paths"]["/api/chats/{chat_id}/messages/{message_id}/"]["patch"].is_object());
}
