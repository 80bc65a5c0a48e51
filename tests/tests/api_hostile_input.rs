//! Hostile input end to end, in process, on the suite's store (run on SQLite and
//! on DynamoDB): bodies that are not UTF-8, nest too deep, repeat keys or carry
//! numbers no type holds; values that try to break out of a response header; and
//! random bodies into every route. The answer is always a 4xx JSON error naming
//! the problem, never a 5xx, and nothing is charged for a refused request.

use chatbot_core::http::body_shape::MAX_JSON_DEPTH;
use chatbot_core::routes::ROUTES;
use chatbot_tests::fuzz::{config, json_value};
use chatbot_tests::{assert_error, concrete_path, TestApp, TestResponse};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use std::collections::HashMap;

fn json_headers(token: &str) -> HashMap<String, String> {
    HashMap::from([
        ("authorization".to_string(), format!("Token {token}")),
        ("content-type".to_string(), "application/json".to_string()),
    ])
}

/// `depth` nested arrays around a number.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// Nothing was billed: every request so far was refused before the model.
async fn assert_nothing_charged(app: &TestApp, token: &str) {
    let balance = app.call("GET", "/api/tokens/", Some(token), None).await.body;
    assert_eq!(balance["requests"], 0, "{balance}");
}

/// No header of the answer carries a CR or LF, and none was added by the request.
fn assert_headers_clean(response: &TestResponse) {
    for (name, value) in &response.headers {
        let bytes = value.as_bytes();
        assert!(!bytes.contains(&b'\r') && !bytes.contains(&b'\n'), "{name}: {value:?}");
        assert!(!name.as_str().starts_with("x-injected"), "{name}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400_json_error_on_every_kind_of_route() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    // Inside a field the route reads, one it ignores (dialect E ignores unknown
    // fields), and outside any string; API Gateway base64-encodes all three.
    for body in [
        &b"{\"content\": \"caf\xe9\", \"message\": \"caf\xe9\"}"[..],
        b"{\"content\": \"hi\", \"message\": \"hi\", \"x\": \"\xc3\x28\"}",
        b"{\"content\": \"hi\", \"message\": \"hi\"}\xff\xfe",
    ] {
        let canonical = app.send_bytes("POST", "/api/chats/", json_headers(&token), body).await;
        assert_eq!(assert_error(&canonical, 400), "invalid_json", "{body:?}");
        let dialect_e = app
            .send_bytes("POST", "/chat/response/1/", json_headers(&token), body)
            .await;
        assert_eq!(assert_error(&dialect_e, 400), "invalid_json");
        assert_eq!(dialect_e.body["error"], "Invalid JSON");
        let openai = app
            .send_bytes("POST", "/v1/chat/completions", json_headers(&token), body)
            .await;
        assert_eq!(openai.status, 400, "{}", openai.text);
        assert_eq!(openai.body["error"]["code"], "invalid_json");
    }
    assert_nothing_charged(&app, &token).await;
    // The same base64 path carries a valid body through.
    let valid = app
        .send_bytes(
            "POST",
            "/api/chats/",
            json_headers(&token),
            "{\"content\": \"café\"}".as_bytes(),
        )
        .await;
    assert_eq!(valid.status, 201, "{}", valid.text);
    assert_eq!(valid.body["reply"]["You"], "café");
}

#[tokio::test]
async fn a_body_nested_past_the_depth_limit_is_a_400_naming_the_limit() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let send = |path: &'static str, body: String| app.send("POST", path, json_headers(&token), Some(body), "127.0.0.1");
    // Too deep: refused before anything else is checked, whatever the route reads.
    // 20 000 levels is 40 KB, under the body limit.
    for depth in [MAX_JSON_DEPTH + 1, 129, 20_000] {
        let canonical = send("/api/chats/", format!(r#"{{"content": "hi", "x": {}}}"#, nested(depth))).await;
        assert_eq!(assert_error(&canonical, 400), "too_deeply_nested", "depth {depth}");
        // Dialect B ignores fields it does not know, but not their depth.
        let ignored = send("/api/chat/", format!(r#"{{"message": "hi", "x": {}}}"#, nested(depth))).await;
        assert_eq!(assert_error(&ignored, 400), "too_deeply_nested");
        let openai = send(
            "/v1/chat/completions",
            format!(
                r#"{{"model": "scripted/echo", "messages": [], "x": {}}}"#,
                nested(depth)
            ),
        )
        .await;
        assert_eq!(openai.status, 400);
        assert_eq!(openai.body["error"]["code"], "too_deeply_nested");
    }
    assert_nothing_charged(&app, &token).await;
    // At the limit (the object itself is one level), an ignored field is fine.
    let deepest = send(
        "/api/chat/",
        format!(r#"{{"message": "hi", "x": {}}}"#, nested(MAX_JSON_DEPTH - 1)),
    )
    .await;
    assert_eq!(deepest.status, 200, "{}", deepest.text);
}

#[tokio::test]
async fn a_repeated_key_is_a_400_naming_it_never_last_wins() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let send = |path: &'static str, body: &'static str| {
        app.send("POST", path, json_headers(&token), Some(body.to_string()), "127.0.0.1")
    };
    let canonical = send("/api/chats/", r#"{"content": "first", "content": "second"}"#).await;
    assert_eq!(assert_error(&canonical, 400), "duplicate_key");
    assert_eq!(canonical.body["field"], "content");
    // A field the dialect ignores, and one inside a nested object.
    let ignored = send("/api/chat/", r#"{"message": "hi", "extra": 1, "extra": 2}"#).await;
    assert_eq!(assert_error(&ignored, 400), "duplicate_key");
    let openai = send(
        "/v1/chat/completions",
        r#"{"model": "scripted/echo", "messages": [{"role": "user", "content": "a", "content": "b"}]}"#,
    )
    .await;
    assert_eq!(
        (openai.status, &openai.body["error"]["param"]),
        (400, &json!("content"))
    );
    let register = app
        .send(
            "POST",
            "/api/register/",
            HashMap::from([("content-type".to_string(), "application/json".to_string())]),
            Some(r#"{"username": "bob", "password": "password123", "username": "mallory"}"#.to_string()),
            "127.0.0.1",
        )
        .await;
    assert_eq!(assert_error(&register, 400), "duplicate_key");
    assert_nothing_charged(&app, &token).await;
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "mallory", "password": "password123"})),
        )
        .await;
    assert_eq!(login.status, 401, "no account was created under either name");
}

#[tokio::test]
async fn numbers_no_field_can_hold_are_a_400_naming_the_field() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    for limit in ["1e400", "1e30", "18446744073709551616", "-1", "NaN", "0x10"] {
        let response = app
            .call("GET", &format!("/api/chats/?limit={limit}"), Some(&token), None)
            .await;
        assert_eq!(assert_error(&response, 400), "invalid_field", "limit={limit}");
        assert_eq!(response.body["field"], "limit");
    }
    for number in ["99999999999999999999", "1e400"] {
        let thread = app
            .call("GET", &format!("/chat/threads/{number}/messages/"), Some(&token), None)
            .await;
        assert_eq!(assert_error(&thread, 400), "invalid_field", "{number}");
    }
    let send = |path: &'static str, body: String| app.send("POST", path, json_headers(&token), Some(body), "127.0.0.1");
    for max_tokens in ["1e30", "1e400", "18446744073709551616", "4294967296", "-1", "1.5"] {
        let response = send(
            "/v1/chat/completions",
            format!(r#"{{"model": "scripted/echo", "messages": [{{"role": "user", "content": "hi"}}], "max_tokens": {max_tokens}}}"#),
        )
        .await;
        assert_eq!(response.status, 400, "max_tokens {max_tokens}: {}", response.text);
        assert_eq!(response.body["error"]["type"], "invalid_request_error");
    }
    for conversation_id in ["99999999999999999999", "1e30", "\"99999999999999999999\"", "-0"] {
        let response = send(
            "/api/chat/",
            format!(r#"{{"message": "hi", "conversation_id": {conversation_id}}}"#),
        )
        .await;
        assert_error(&response, 400);
        assert_eq!(response.body["field"], "conversation_id", "{conversation_id}");
    }
    // A number past f64 is not JSON any reader can hold: malformed, wherever it is.
    for body in [
        r#"{"content": "hi", "end_session": 1e400}"#,
        r#"{"message": "hi", "conversation_id": 1e400}"#,
    ] {
        let response = send(
            if body.contains("message") {
                "/api/chat/"
            } else {
                "/api/chats/"
            },
            body.to_string(),
        )
        .await;
        assert_eq!(assert_error(&response, 400), "invalid_json", "{body}");
    }
    assert_nothing_charged(&app, &token).await;
}

#[tokio::test]
async fn values_echoed_into_headers_cannot_break_out_of_them() {
    let app = TestApp::with_vars(&[("CORS_ALLOWED_ORIGINS", "*"), ("AUTH_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let token = app.register("alice").await;
    for content in ["one", "two", "three"] {
        app.chat(&token, content).await;
    }
    let chat_id = app.call("GET", "/api/chats/", Some(&token), None).await.body[0]["chat_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The Link header echoes the path and query: CR/LF and angle brackets stay
    // inside the URL, escaped. (A raw CR or LF cannot reach a function: no HTTP
    // request line carries one, and no Lambda event with one parses.)
    for query in [
        "limit=1&search=%0d%0aX-Injected:%201",
        "limit=1&tag=%3E;%20rel=%22evil%22",
    ] {
        let page = app
            .call(
                "GET",
                &format!("/api/chats/{chat_id}/messages/?{query}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{query}: {}", page.text);
        assert_headers_clean(&page);
        let link = page.header("link").expect("a next page");
        assert_eq!(link.matches('<').count(), 1, "{link}");
        assert_eq!(link.matches('>').count(), 1, "{link}");
        assert!(link.ends_with(">; rel=\"next\""), "{link}");
    }
    // A path parameter with an escaped CR/LF around a valid id still reaches the
    // chat; the path the Link repeats stays escaped.
    let padded = app
        .call(
            "GET",
            &format!("/api/chats/%0D%0A{chat_id}%20/messages/?limit=1"),
            Some(&token),
            None,
        )
        .await;
    assert_headers_clean(&padded);
    if padded.status == 200 {
        assert!(padded.header("link").unwrap().contains("%0D%0A"));
    } else {
        assert_eq!(assert_error(&padded, 400), "invalid_field");
    }
    // The CORS origin echo (any origin is allowed here): an escaped CR/LF stays
    // text. A raw one cannot arrive: no Lambda event with one parses.
    for origin in ["https://a.example%0d%0aX-Injected:%201", "https://a.example\tX"] {
        let response = app
            .send(
                "GET",
                "/api/health/",
                HashMap::from([("origin".to_string(), origin.to_string())]),
                None,
                "127.0.0.1",
            )
            .await;
        assert_eq!(response.status, 200);
        assert_headers_clean(&response);
        if let Some(echoed) = response.header("access-control-allow-origin") {
            assert_eq!(echoed, origin, "an origin is echoed whole or not at all");
        }
    }
    // Retry-After and the session cookie carry only what the API writes.
    let mut refused = None;
    for _ in 0..3 {
        let response = app
            .call(
                "POST",
                "/auth/login/",
                None,
                Some(json!({"username": "alice\r\nSet-Cookie: x=1", "password": "password123"})),
            )
            .await;
        assert_headers_clean(&response);
        assert!(response.set_cookies().is_empty(), "a failed login sets no cookie");
        if response.status == 429 {
            refused = Some(response);
        }
    }
    let refused = refused.expect("the third login is over the limit");
    assert!(refused.header("retry-after").unwrap().parse::<u64>().is_ok());
}

/// Random JSON into every route that reads a body, with real ids so requests get
/// past the lookups: the answer is always a 2xx or a 4xx JSON error.
#[tokio::test]
async fn random_bodies_into_every_route_are_answered_2xx_or_4xx() {
    let app = TestApp::with_vars(&[
        ("RATE_LIMIT_PER_MINUTE", "1000000"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("INITIAL_TOKENS", "100000000"),
    ])
    .await;
    let token = app.register("alice").await;
    let sent = app.chat(&token, "hello").await;
    let chat_id = sent["chat_id"].as_str().unwrap().to_string();
    let message_id = sent["reply"]["message_id"].as_str().unwrap().to_string();
    let number = sent["number"].as_i64().unwrap_or(1);
    let routes: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.doc.request.is_some())
        .map(|r| (r.method, concrete_path(r.path, &chat_id, &message_id, number)))
        .collect();
    let mut runner = TestRunner::new(config(0));
    let bodies = json_value();
    for case in 0..256 {
        let (method, path) = &routes[case % routes.len()];
        let body: Value = bodies.new_tree(&mut runner).expect("a value").current();
        let response = app.call(method, path, Some(&token), Some(body.clone())).await;
        assert!(
            (200..500).contains(&response.status),
            "{method} {path} {body}: {} {}",
            response.status,
            response.text
        );
        if response.status >= 400 {
            assert!(
                !response.body.is_null(),
                "{method} {path} {body}: not JSON: {}",
                response.text
            );
        }
    }
}
