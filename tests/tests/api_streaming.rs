//! `POST /api/chats/stream/`: replies as server-sent events, stored and billed when
//! the stream ends; failures refunded; a client that leaves keeps a partial reply.

use chatbot_core::llm::ProviderError;
use chatbot_tests::fake_http::{FakeServer, Part};
use chatbot_tests::{assert_error, events, wire, Behaviour, TestApp};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::Duration;

async fn with_openai() -> (TestApp, String, FakeServer) {
    with_openai_and(&[]).await
}

/// The same with some settings changed.
async fn with_openai_and(vars: &[(&str, &str)]) -> (TestApp, String, FakeServer) {
    let (app, server) = TestApp::with_vars(vars)
        .await
        .with_fake_openai(Duration::from_secs(2))
        .await;
    let token = app.register("alice").await;
    (app, token, server)
}

/// An OpenAI stream of `pieces` that pauses `pause` after the first one.
fn pausing_stream(pieces: &[&str], pause: Duration) -> chatbot_tests::fake_http::Answer {
    let mut slow = wire::openai_stream(pieces, (1, 3));
    for part in slow.parts.iter_mut().skip(2) {
        if let Part::Pause(p) = part {
            *p = pause;
        }
    }
    slow
}

/// Reads the stream until `until` has been seen (or it ends); what was read.
async fn read_until(body: &mut chatbot_core::http::stream::StreamBody, until: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(until) {
        match body.frame().await {
            Some(Ok(frame)) => seen.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap())),
            _ => break,
        }
    }
    seen
}

/// Streams the answer to "hi" from the fake OpenAI, as the response comes.
async fn ask_openai(app: &TestApp, token: &str) -> http::Response<chatbot_core::http::stream::StreamBody> {
    app.open_stream(
        "/api/chats/stream/",
        token,
        json!({"content": "hi", "provider": "openai"}),
    )
    .await
}

async fn balance(app: &TestApp, token: &str) -> Value {
    app.call("GET", "/api/tokens/", Some(token), None).await.body
}

#[tokio::test]
async fn a_reply_streams_as_start_deltas_and_done_then_is_stored() {
    let (app, token, server) = with_openai().await;
    server.answer([
        wire::openai_stream(&["Hel", "lo", " there"], (5, 3)),
        wire::openai_completion("A Title", 1, 1),
    ]);
    let response = app
        .call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"content": "hi", "provider": "openai"})),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = events(&response.text);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    assert_eq!(names, ["start", "delta", "delta", "delta", "done"]);
    let start = events[0].json();
    let text: String = events[1..4]
        .iter()
        .map(|e| e.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, "Hello there");
    let done = events[4].json();
    assert_eq!(done["usage"], json!({"prompt_tokens": 5, "completion_tokens": 3}));
    assert_eq!(done["tokens_remaining"], 3900);
    assert_eq!(done["reply_to"], start["message_id"]);
    let chat_id = start["chat_id"].as_str().unwrap();
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await
        .body;
    assert_eq!(messages[1]["content"], "Hello there");
    assert_eq!(messages[1]["message_id"], done["message_id"]);
    assert_eq!(messages[1]["partial"], false);
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await
        .body;
    assert_eq!(chat["title"], "A Title");
}

#[tokio::test]
async fn providers_without_native_streaming_send_one_piece() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let response = app
        .call(
            "POST",
            "/api/chats/stream",
            Some(&token),
            Some(json!({"content": "hi"})),
        )
        .await;
    let events = events(&response.text);
    assert_eq!(events.len(), 3, "{}", response.text);
    assert_eq!(events[1].json()["text"], "reply to: hi");
    assert_eq!(events[2].name.as_deref(), Some("done"));
}

#[tokio::test]
async fn a_failure_before_the_stream_is_a_json_error_and_costs_nothing() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    app.provider
        .set(Behaviour::Fail(ProviderError::Unavailable("down".into())));
    let response = app
        .call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(assert_error(&response, 503), "provider_unavailable");
    assert!(response.body["message_id"].is_string());
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"],
        4000
    );
    assert_error(
        &app.call("POST", "/api/chats/stream/", None, Some(json!({"content": "hi"})))
            .await,
        401,
    );
    let ended = app
        .call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"end_session": true})),
        )
        .await;
    assert_eq!(ended.status, 200, "ending works here too: {}", ended.text);
}

#[tokio::test]
async fn a_model_that_breaks_off_mid_stream_sends_an_error_event_and_is_refunded() {
    let (app, token, server) = with_openai().await;
    let mut cut = wire::openai_stream(&["Hel", "lo"], (1, 1));
    cut.parts.truncate(4);
    cut.parts.push(Part::Cut);
    server.answer([cut]);
    let response = app
        .call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"content": "hi", "provider": "openai"})),
        )
        .await;
    let events = events(&response.text);
    let last = events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("error"), "{}", response.text);
    assert_eq!(last.json()["code"], "provider_failed");
    assert!(last.json()["message_id"].is_string());
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"],
        4000
    );
    let chat_id = events[0].json()["chat_id"].as_str().unwrap().to_string();
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await
        .body;
    assert_eq!(
        chat["conversation"][0]["Bot"],
        Value::Null,
        "no reply is stored for a failed model"
    );
}

#[tokio::test]
async fn a_client_that_leaves_keeps_a_partial_reply_billed_once() {
    let (app, token, server) = with_openai().await;
    let mut slow = wire::openai_stream(&["first ", "second ", "third"], (1, 3));
    // Long pauses after the first piece: the client is gone before the rest.
    for part in slow.parts.iter_mut().skip(2) {
        if let Part::Pause(pause) = part {
            *pause = Duration::from_millis(300);
        }
    }
    server.answer([slow, wire::openai_completion("Title", 1, 1)]);
    let response = ask_openai(&app, &token).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut seen = String::new();
    while !seen.contains("first ") {
        let frame = body.frame().await.expect("a frame").expect("data");
        seen.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
    }
    drop(body);
    let chat_id = events(&seen)[0].json()["chat_id"].as_str().unwrap().to_string();
    // The relay notices on its next write, then stores what it had.
    let mut messages = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        messages = app
            .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
            .await
            .body;
        if messages.as_array().is_some_and(|m| m.len() == 2) {
            break;
        }
    }
    let reply = &messages[1];
    assert_eq!(reply["partial"], true, "{messages}");
    assert!(reply["content"].as_str().unwrap().starts_with("first "), "{reply}");
    assert_ne!(reply["content"], "first second third");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body,
        json!({"tokens": 3900, "spent": 100, "requests": 1})
    );
}

#[tokio::test]
async fn streaming_is_billed_and_refused_like_a_send() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "100")]).await;
    let token = app.register("alice").await;
    assert_eq!(
        app.call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"content": "one"}))
        )
        .await
        .status,
        200
    );
    let refused = app
        .call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"content": "two"})),
        )
        .await;
    assert_eq!(assert_error(&refused, 402), "insufficient_tokens");
    assert!(refused.header("x-ratelimit-limit").is_some());
}

#[tokio::test]
async fn a_client_that_reads_slowly_gets_the_whole_reply_and_blocks_nobody() {
    let (app, token, server) = with_openai().await;
    server.answer([
        wire::openai_stream(&["first ", "second ", "third"], (1, 3)),
        wire::openai_completion("Title", 1, 1),
    ]);
    let response = ask_openai(&app, &token).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    // Nothing read yet: the same user's other requests are answered meanwhile.
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(balance.status, 200);
    // Then one frame at a time, with pauses between reads.
    let mut seen = String::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("data");
        seen.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = events(&seen);
    assert_eq!(events.last().and_then(|e| e.name.as_deref()), Some("done"), "{seen}");
    let chat_id = events[0].json()["chat_id"].as_str().unwrap().to_string();
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await
        .body;
    assert_eq!(messages[1]["content"], "first second third", "{messages}");
    assert_ne!(messages[1]["partial"], true);
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body,
        json!({"tokens": 3900, "spent": 100, "requests": 1})
    );
}

#[tokio::test]
async fn a_chat_deleted_while_its_reply_streams_is_paid_for_what_reached_the_client() {
    let (app, token, server) = with_openai().await;
    server.answer([
        pausing_stream(&["first ", "second ", "third"], Duration::from_millis(200)),
        wire::openai_completion("Title", 1, 1),
    ]);
    let response = ask_openai(&app, &token).await;
    let mut body = response.into_body();
    let seen = read_until(&mut body, "first ").await;
    let chat_id = events(&seen)[0].json()["chat_id"].as_str().unwrap().to_string();
    // The user deletes the chat from another tab while its reply streams.
    let deleted = app
        .call("DELETE", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    assert!(deleted.status < 300, "{}", deleted.text);
    let rest = read_until(&mut body, "event: error").await;
    let all = format!("{seen}{rest}");
    let last = events(&all).pop().unwrap();
    assert_eq!(last.name.as_deref(), Some("error"), "{all}");
    assert_eq!(last.json()["code"], "not_found");
    // The text that reached the client is paid for, once: no free replies.
    assert_eq!(
        balance(&app, &token).await,
        json!({"tokens": 3900, "spent": 100, "requests": 1})
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_any_text_pays_nothing() {
    let (app, token, server) = with_openai().await;
    // The model is slow to start: the client is gone before its first piece.
    let mut late = wire::openai_stream(&["first ", "second"], (1, 3));
    late.parts.insert(0, Part::Pause(Duration::from_millis(500)));
    server.answer([late, wire::openai_completion("Title", 1, 1)]);
    let response = ask_openai(&app, &token).await;
    let mut body = response.into_body();
    let seen = read_until(&mut body, "event: start").await;
    let chat_id = events(&seen)[0].json()["chat_id"].as_str().unwrap().to_string();
    drop(body);
    // The relay finds the client gone at its first piece: the charge goes back, and
    // only the question is kept.
    let mut refunded = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        refunded = balance(&app, &token).await;
        if refunded["tokens"] == 4000 {
            break;
        }
    }
    assert_eq!(refunded, json!({"tokens": 4000, "spent": 0, "requests": 0}));
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await
        .body;
    assert_eq!(messages.as_array().unwrap().len(), 1, "{messages}");
    assert_eq!(messages[0]["role"], "user");
}

#[tokio::test]
async fn a_stream_past_the_time_limit_after_text_is_a_paid_partial_reply() {
    let (app, token, server) = with_openai_and(&[("PROVIDER_TIMEOUT_SECS", "1")]).await;
    server.answer([pausing_stream(&["first ", "second"], Duration::from_secs(3))]);
    let response = ask_openai(&app, &token).await;
    let mut body = response.into_body();
    let seen = read_until(&mut body, "event: done").await;
    let events = events(&seen);
    let done = events.last().unwrap();
    assert_eq!(done.name.as_deref(), Some("done"), "{seen}");
    assert_eq!(done.json()["partial"], true);
    let chat_id = events[0].json()["chat_id"].as_str().unwrap().to_string();
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await
        .body;
    assert!(
        messages[1]["content"].as_str().unwrap().starts_with("first"),
        "{messages}"
    );
    assert_eq!(messages[1]["partial"], true, "the stream never ended: {messages}");
    assert_eq!(
        balance(&app, &token).await,
        json!({"tokens": 3900, "spent": 100, "requests": 1})
    );
}
