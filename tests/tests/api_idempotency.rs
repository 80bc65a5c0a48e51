//! `Idempotency-Key` (API.md §6): a retried send gets the first answer and one
//! charge, on every route that charges, whole or streamed; another request under
//! the key is 422, a retry while the first runs 409; failures give the key up.

use chatbot_core::llm::ProviderError;
use chatbot_tests::fake_http::{FakeServer, Part};
use chatbot_tests::{assert_error, events, wire, Behaviour, ScriptedAs, TestApp, TestResponse};
use chrono::{Duration as Days, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Sends `body` to `path` as `token`'s user with the key `key`.
async fn keyed(app: &TestApp, method: &str, path: &str, token: &str, key: &str, body: Option<Value>) -> TestResponse {
    let auth = format!("Token {token}");
    app.call_with(
        method,
        path,
        &[("authorization", &auth), ("idempotency-key", key)],
        body,
    )
    .await
}

async fn balance(app: &TestApp, token: &str) -> Value {
    app.call("GET", "/api/tokens/", Some(token), None).await.body
}

/// The first answer, then the retry's (key `key`): the same status and body, the
/// retry marked.
async fn twice(
    app: &TestApp,
    (method, path, key): (&str, &str, &str),
    token: &str,
    body: Option<Value>,
) -> (TestResponse, TestResponse) {
    let first = keyed(app, method, path, token, key, body.clone()).await;
    assert!(first.status < 300, "{path}: {} {}", first.status, first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = keyed(app, method, path, token, key, body).await;
    assert_eq!(retry.status, first.status, "{path}");
    assert_eq!(retry.text, first.text, "{path}: the first answer, byte for byte");
    assert_eq!(retry.header("content-type"), first.header("content-type"), "{path}");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"), "{path}");
    (first, retry)
}

#[tokio::test]
async fn a_retried_send_gets_the_first_answer_and_is_charged_once() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (first, _) = twice(
        &app,
        ("POST", "/api/chats/", "k"),
        &token,
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(first.status, 201);
    assert_eq!(app.provider.reply_requests().len(), 1, "the model answered once");
    assert_eq!(
        balance(&app, &token).await,
        json!({"tokens": 3900, "spent": 100, "requests": 1})
    );
    let chat_id = first.body["chat_id"].as_str().unwrap();
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    assert_eq!(messages.body.as_array().unwrap().len(), 2, "one question, one reply");
    // Another key is another request.
    let other = keyed(
        &app,
        "POST",
        "/api/chats/",
        &token,
        "another",
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_ne!(other.body["reply"]["reply_id"], first.body["reply"]["reply_id"]);
    assert_eq!(balance(&app, &token).await["spent"], 200);
}

#[tokio::test]
async fn a_key_sent_with_another_request_is_422_and_changes_nothing() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let first = keyed(&app, "POST", "/api/chats/", &token, "k", Some(json!({"content": "hi"}))).await;
    assert_eq!(first.status, 201);
    let other = keyed(
        &app,
        "POST",
        "/api/chats/",
        &token,
        "k",
        Some(json!({"content": "bye"})),
    )
    .await;
    assert_eq!(assert_error(&other, 422), "idempotency_key_reused");
    assert_eq!(balance(&app, &token).await["spent"], 100);
    // Keys are the user's own: another user's same key and body is a request of its own.
    let bob = app.register("bob").await;
    let theirs = keyed(&app, "POST", "/api/chats/", &bob, "k", Some(json!({"content": "hi"}))).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_eq!(theirs.header("idempotent-replayed"), None);
    // A key is per route: the same key on another route asks nothing of the first.
    let chat_id = first.body["chat_id"].as_str().unwrap();
    let again = keyed(
        &app,
        "POST",
        &format!("/api/chats/{chat_id}/regenerate/"),
        &token,
        "k",
        None,
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
}

#[tokio::test]
async fn keys_that_are_not_1_to_255_printable_ascii_characters_are_400() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let long = "k".repeat(256);
    for bad in ["", long.as_str(), "tab\there", "clé"] {
        let response = keyed(&app, "POST", "/api/chats/", &token, bad, Some(json!({"content": "hi"}))).await;
        assert_eq!(assert_error(&response, 400), "invalid_field", "{bad:?}");
        assert_eq!(response.body["field"], "Idempotency-Key");
    }
    let longest = "k".repeat(255);
    for good in [longest.as_str(), "a b ~!", "550e8400-e29b-41d4-a716-446655440000"] {
        let response = keyed(
            &app,
            "POST",
            "/api/chats/",
            &token,
            good,
            Some(json!({"content": good})),
        )
        .await;
        assert_eq!(response.status / 100, 2, "{good:?}: {}", response.text);
    }
    assert_eq!(
        balance(&app, &token).await["requests"],
        3,
        "a refused key charges nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_while_the_first_runs_is_409_then_gets_the_answer() {
    let app = Arc::new(TestApp::new().await);
    let token = app.register("alice").await;
    // A chat to continue, so that no title is asked of the model below.
    let chat_id = app.chat(&token, "start").await["chat_id"].as_str().unwrap().to_string();
    let body = json!({"content": "hi", "chat_id": chat_id});
    // The model holds the first request until the test joins it at the barrier.
    let gate = Arc::new(tokio::sync::Barrier::new(2));
    app.provider.set(Behaviour::Together(gate.clone()));
    let first = {
        let (app, token, body) = (app.clone(), token.clone(), body.clone());
        tokio::spawn(async move { keyed(&app, "POST", "/api/chats/", &token, "k", Some(body)).await })
    };
    while app.provider.reply_requests().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let retry = keyed(&app, "POST", "/api/chats/", &token, "k", Some(body.clone())).await;
    assert_eq!(assert_error(&retry, 409), "idempotency_in_progress");
    assert_eq!(retry.header("retry-after"), Some("1"));
    assert_eq!(retry.body["retry_after"], 1);
    gate.wait().await;
    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.text);
    let later = keyed(&app, "POST", "/api/chats/", &token, "k", Some(body)).await;
    assert_eq!(later.text, first.text);
    assert_eq!(
        balance(&app, &token).await["requests"],
        2,
        "the start and one keyed reply"
    );
}

#[tokio::test]
async fn an_answer_that_failed_gives_the_key_up_so_the_retry_runs() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let body = json!({"content": "hi"});
    app.provider
        .set(Behaviour::Fail(ProviderError::Unavailable("down for now".into())));
    let failed = keyed(&app, "POST", "/api/chats/", &token, "k", Some(body.clone())).await;
    assert_eq!(failed.status, 503, "{}", failed.text);
    app.provider.set(Behaviour::Answer);
    let retry = keyed(&app, "POST", "/api/chats/", &token, "k", Some(body.clone())).await;
    assert_eq!(retry.status / 100, 2, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), None, "it ran");
    assert_eq!(
        balance(&app, &token).await,
        json!({"tokens": 3900, "spent": 100, "requests": 1})
    );
    // From now on the key answers with that success.
    let again = keyed(&app, "POST", "/api/chats/", &token, "k", Some(body)).await;
    assert_eq!(again.text, retry.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_refused_payment_is_not_kept() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "100"), ("TOKENS_PER_REQUEST", "100")]).await;
    let token = app.register("alice").await;
    app.chat(&token, "spend it all").await;
    let short = keyed(&app, "POST", "/api/chats/", &token, "k", Some(json!({"content": "hi"}))).await;
    assert_eq!(assert_error(&short, 402), "insufficient_tokens");
    // Its key is free: the same key with another body is no reuse.
    let other = keyed(
        &app,
        "POST",
        "/api/chats/",
        &token,
        "k",
        Some(json!({"content": "bye"})),
    )
    .await;
    assert_eq!(assert_error(&other, 402), "insufficient_tokens");
}

#[tokio::test]
async fn a_stream_is_replayed_as_one_body_of_its_events_and_charged_once() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (first, _) = twice(
        &app,
        ("POST", "/api/chats/stream/", "k"),
        &token,
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(first.header("content-type"), Some("text/event-stream"));
    let names: Vec<String> = events(&first.text).into_iter().filter_map(|e| e.name).collect();
    assert_eq!(names.first().map(String::as_str), Some("start"));
    assert_eq!(names.last().map(String::as_str), Some("done"));
    assert_eq!(balance(&app, &token).await["requests"], 1);
}

#[tokio::test]
async fn a_stream_that_ends_in_an_error_gives_the_key_up() {
    let (app, token, server) = with_openai().await;
    // The provider fails after the first piece: an `error` event ends the stream.
    let mut cut = wire::openai_stream(&["Hel", "lo"], (1, 1));
    cut.parts.truncate(4);
    cut.parts.push(Part::Cut);
    server.answer([cut, wire::openai_stream(&["Hello"], (1, 1))]);
    let body = json!({"content": "hi", "provider": "openai"});
    let failed = keyed(&app, "POST", "/api/chats/stream/", &token, "k", Some(body.clone())).await;
    let last = events(&failed.text).pop().and_then(|e| e.name);
    assert_eq!(last.as_deref(), Some("error"), "{}", failed.text);
    let retry = keyed(&app, "POST", "/api/chats/stream/", &token, "k", Some(body)).await;
    assert_eq!(retry.header("idempotent-replayed"), None, "it ran again");
    let last = events(&retry.text).pop().and_then(|e| e.name);
    assert_eq!(last.as_deref(), Some("done"), "{}", retry.text);
    assert_eq!(balance(&app, &token).await["requests"], 1, "the failure was refunded");
}

#[tokio::test]
async fn a_client_that_leaves_a_stream_gives_the_key_up() {
    let (app, token, server) = with_openai().await;
    let mut slow = wire::openai_stream(&["Hel", "lo", " there"], (1, 3));
    for part in slow.parts.iter_mut().skip(2) {
        if let Part::Pause(pause) = part {
            *pause = Duration::from_secs(30);
        }
    }
    server.answer([slow, wire::openai_stream(&["Hi"], (1, 1))]);
    let body = json!({"content": "hi", "provider": "openai"});
    let key = [("idempotency-key", "k")];
    let mut response = app
        .open_stream_with("/api/chats/stream/", &token, body.clone(), &key)
        .await;
    let mut seen = String::new();
    while !seen.contains("delta") {
        let frame = response.body_mut().frame().await.expect("more").expect("a frame");
        seen.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
    }
    drop(response);
    // The key is given up once the writer learns the client left.
    let retry = loop {
        let retry = keyed(&app, "POST", "/api/chats/stream/", &token, "k", Some(body.clone())).await;
        if retry.status != 409 {
            break retry;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), None, "it ran again");
    assert_eq!(events(&retry.text).pop().and_then(|e| e.name).as_deref(), Some("done"));
}

#[tokio::test]
async fn every_route_that_charges_replays_its_first_answer() {
    // Dialect D asks OpenAI by its route.
    let app = TestApp::new()
        .await
        .with_provider(Arc::new(ScriptedAs::new("openai", "gpt-4o-mini")));
    let token = app.register("alice").await;
    let chat = app.chat(&token, "first").await;
    let chat_id = chat["chat_id"].as_str().unwrap().to_string();
    let question = chat["reply"]["message_id"].as_str().unwrap().to_string();
    let v1 = json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "hi"}]});
    let mut v1_stream = v1.clone();
    v1_stream["stream"] = json!(true);
    app.call("POST", "/chat/threads/new/", Some(&token), None).await;
    let d_chat = uuid::Uuid::new_v4().to_string();
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", format!("/api/chats/{chat_id}/regenerate/"), None),
        (
            "PATCH",
            format!("/api/chats/{chat_id}/messages/{question}/"),
            Some(json!({"content": "first, edited", "regenerate": true})),
        ),
        (
            "POST",
            format!("/api/chats/{chat_id}/messages/{question}/branches/"),
            Some(json!({"content": "first, as a branch"})),
        ),
        ("POST", "/v1/chat/completions".into(), Some(v1)),
        ("POST", "/v1/chat/completions".into(), Some(v1_stream)),
        ("POST", "/api/chat/".into(), Some(json!({"message": "hello B"}))),
        (
            "POST",
            "/prompt_gpt/".into(),
            Some(json!({"chat_id": d_chat, "content": "hello D"})),
        ),
        ("POST", "/chat/response/1/".into(), Some(json!({"message": "hello E"}))),
        (
            "POST",
            "/chat/streaming-response/1/".into(),
            Some(json!({"message": "hello E"})),
        ),
    ];
    let mut charged = balance(&app, &token).await["requests"].as_i64().unwrap();
    for (i, (method, path, body)) in routes.into_iter().enumerate() {
        twice(&app, (method, &path, &format!("key {i}")), &token, body).await;
        charged += 1;
        assert_eq!(balance(&app, &token).await["requests"], charged, "{path}: one charge");
    }
}

#[tokio::test]
async fn the_openai_route_answers_key_errors_in_openai_shape() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let ask = |content: &str| json!({"model": "scripted/echo", "messages": [{"role": "user", "content": content}]});
    let first = keyed(&app, "POST", "/v1/chat/completions", &token, "k", Some(ask("hi"))).await;
    assert_eq!(first.status, 200);
    let reused = keyed(&app, "POST", "/v1/chat/completions", &token, "k", Some(ask("bye"))).await;
    assert_eq!(reused.status, 422);
    assert_eq!(
        reused.body["error"]["code"], "idempotency_key_reused",
        "{}",
        reused.text
    );
}

#[tokio::test]
async fn a_key_answers_for_a_day_then_runs_again() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let start = Utc::now();
    let body = Some(json!({"content": "hi"}));
    app.set_now(Some(start));
    let first = keyed(&app, "POST", "/api/chats/", &token, "k", body.clone()).await;
    app.set_now(Some(start + Days::hours(23)));
    let within = keyed(&app, "POST", "/api/chats/", &token, "k", body.clone()).await;
    assert_eq!(within.text, first.text);
    app.set_now(Some(start + Days::hours(24) + Days::seconds(1)));
    let after = keyed(&app, "POST", "/api/chats/", &token, "k", body).await;
    assert_eq!(after.header("idempotent-replayed"), None);
    assert_ne!(after.body["reply"]["reply_id"], first.body["reply"]["reply_id"]);
    assert_eq!(balance(&app, &token).await["requests"], 2);
}

#[tokio::test]
async fn a_key_outlives_the_process_that_answered_it() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let body = Some(json!({"content": "hi"}));
    let first = keyed(&app, "POST", "/api/chats/", &token, "k", body.clone()).await;
    // A cold start: another process on the same store.
    let fresh = TestApp::with_store(app.state.store.clone(), &[], tempfile::tempdir().unwrap());
    let retry = keyed(&fresh, "POST", "/api/chats/", &token, "k", body).await;
    assert_eq!(retry.text, first.text);
    assert_eq!(fresh.provider.reply_requests().len(), 0, "no model call");
}

async fn with_openai() -> (TestApp, String, FakeServer) {
    let (app, server) = TestApp::new().await.with_fake_openai(Duration::from_secs(60)).await;
    let token = app.register("alice").await;
    (app, token, server)
}
