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
    for field in ["max_tokens", "max_completion_tokens"] {
        let none =
            ask(json!({"model": "scripted/echo", field: 0, "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(
            (none.status, none.body["error"]["param"].as_str()),
            (400, Some(field)),
            "{field}=0"
        );
    }
    let capped =
        ask(json!({"model": "scripted/echo", "max_tokens": 4097, "messages": [{"role": "user", "content": "hi"}]}))
            .await;
    assert_eq!(
        capped.status, 200,
        "more than MAX_REPLY_TOKENS is clamped: {}",
        capped.text
    );
    assert_eq!(app.provider.reply_requests().last().unwrap().max_new_tokens, Some(1024));
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
async fn an_over_long_conversation_is_cut_to_the_context_budget_like_a_stored_chat() {
    let app = TestApp::with_vars(&[("CONTEXT_MESSAGES", "4")]).await;
    let token = app.register("alice").await;
    // About 51 tokens a turn; the model takes 150 (the question, two turns and
    // the instruction).
    app.provider.set_input_budget(150);
    let words = |tag: &str| format!("{tag} {}", vec!["word"; 39].join(" "));
    let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
    for i in 0..30 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": words(&format!("turn{i}"))}));
    }
    messages.push(json!({"role": "user", "content": "the question"}));
    let body = json!({"model": "scripted/echo", "messages": messages});
    let answered = app.call("POST", "/v1/chat/completions", Some(&token), Some(body)).await;
    assert_eq!(answered.status, 200, "cut, not refused: {}", answered.text);
    let sent = app.provider.reply_requests().pop().unwrap();
    let contents: Vec<&str> = sent.turns.iter().map(|t| t.content.as_str()).collect();
    // The newest turns that fit, opening with a user turn that carries the
    // instruction, and the question last.
    assert_eq!(contents.len(), 3, "{contents:?}");
    assert!(contents[0].starts_with("Be brief.\n\nturn28 "), "{contents:?}");
    assert!(contents[1].starts_with("turn29 "), "{contents:?}");
    assert_eq!(contents[2], "the question");
    let tokens: usize = sent
        .turns
        .iter()
        .map(|t| chatbot_core::llm::estimate_tokens(&t.content))
        .sum();
    assert!(tokens <= 150, "{tokens} tokens sent for a budget of 150");

    // With room for everything, CONTEXT_MESSAGES still caps the turns.
    app.provider.set_input_budget(100_000);
    let body = json!({"model": "scripted/echo", "messages": messages});
    assert_eq!(
        app.call("POST", "/v1/chat/completions", Some(&token), Some(body))
            .await
            .status,
        200
    );
    let sent = app.provider.reply_requests().pop().unwrap();
    assert_eq!(sent.turns.len(), 3, "four at most, never opening with a reply");
    assert_eq!(sent.turns.last().unwrap().content, "the question");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["requests"],
        2,
        "each answered once, charged once"
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

/// OpenAI's API takes `"stream": null` as no stream (its document makes the field
/// nullable); some clients send it.
#[tokio::test]
async fn a_null_stream_is_a_whole_answer() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let body = json!({"model": "scripted/echo", "stream": null, "messages": [{"role": "user", "content": "Hi"}]});
    let response = app.call("POST", "/v1/chat/completions", Some(&token), Some(body)).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["object"], "chat.completion");
    let body = json!({"model": "scripted/echo", "stream": "yes", "messages": [{"role": "user", "content": "Hi"}]});
    let refused = app.call("POST", "/v1/chat/completions", Some(&token), Some(body)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.body["error"]["param"], "stream");
}
