//! The OpenAI-compatible routes: OpenAI's shapes, streamed and whole, its error
//! format, billing and rate limits.

use chatbot_core::llm::ProviderError;
use chatbot_tests::{events, Behaviour, TestApp};
use serde_json::json;

#[tokio::test]
async fn a_completion_has_openais_shape_and_is_billed() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let body = json!({
        "model": "scripted/echo",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        "temperature": 0.2, "user": "ignored-field"
    });
    let response = app.call("POST", "/v1/chat/completions", Some(&token), Some(body)).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let b = &response.body;
    assert_eq!(b["object"], "chat.completion");
    assert!(b["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(b["model"], "scripted/echo");
    assert_eq!(b["choices"][0]["message"]["role"], "assistant");
    assert_eq!(b["choices"][0]["message"]["content"], "reply to: Be brief.\n\nHello");
    assert_eq!(b["choices"][0]["finish_reason"], "stop");
    let usage = &b["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap())
    );
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["requests"],
        1
    );
    assert_eq!(
        app.call("GET", "/api/chats/", Some(&token), None).await.body,
        json!([]),
        "stateless: no chat is stored"
    );
}

#[tokio::test]
async fn a_streamed_completion_is_chunks_then_done() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let body = json!({"model": "scripted/echo", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Hi"}]});
    let response = app.call("POST", "/v1/chat/completions", Some(&token), Some(body)).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = events(&response.text);
    assert!(events.iter().all(|e| e.name.is_none()), "OpenAI's events are data-only");
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<_> = events[..events.len() - 1].iter().map(|e| e.json()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "reply to: Hi");
    let finish = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"] == "stop")
        .expect("a finishing chunk");
    assert_eq!(finish["id"], chunks[0]["id"]);
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn errors_take_openais_shape_and_status() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "200")]).await;
    let token = app.register("alice").await;
    let ask = |body: serde_json::Value| app.call("POST", "/v1/chat/completions", Some(&token), Some(body));
    let unknown = ask(json!({"model": "nope/x", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"]["type"], "invalid_request_error");
    assert_eq!(unknown.body["error"]["param"], "provider");
    let tools = ask(json!({"model": "scripted/echo", "tools": [{"type": "function"}], "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(tools.body["error"]["param"], "tools");
    for (field, asked) in [
        ("max_tokens", 0),
        ("max_tokens", 4097),
        ("max_completion_tokens", 1_000_000),
    ] {
        let long =
            ask(json!({"model": "scripted/echo", field: asked, "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(
            (long.status, long.body["error"]["param"].as_str()),
            (400, Some(field)),
            "{field}={asked}"
        );
    }
    let capped =
        ask(json!({"model": "scripted/echo", "max_tokens": 4096, "messages": [{"role": "user", "content": "hi"}]}))
            .await;
    assert_eq!(capped.status, 200, "the maximum itself is allowed: {}", capped.text);
    assert_eq!(app.provider.reply_requests().last().unwrap().max_new_tokens, Some(4096));
    let missing = ask(json!({"messages": []})).await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (400, Some("missing_field"))
    );
    let anonymous = app.call("POST", "/v1/chat/completions", None, Some(json!({}))).await;
    assert_eq!(
        (anonymous.status, anonymous.body["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    app.provider.set(Behaviour::Fail(ProviderError::Failed("x".into())));
    let failed = ask(json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(
        (failed.status, failed.body["error"]["type"].as_str()),
        (502, Some("api_error"))
    );
    app.provider.set(Behaviour::Answer);
    assert_eq!(
        ask(json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "hi"}]}))
            .await
            .status,
        200
    );
    let broke = ask(json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(
        (broke.status, broke.body["error"]["type"].as_str()),
        (402, Some("insufficient_quota"))
    );
}

#[tokio::test]
async fn models_are_listed_the_openai_way_and_only_usable_ones() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let response = app.call("GET", "/v1/models", Some(&token), None).await;
    assert_eq!(response.body["object"], "list");
    let ids: Vec<&str> = response.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["scripted/echo", "scripted/echo-large"]);
    assert_eq!(response.body["data"][0]["owned_by"], "scripted");
}
