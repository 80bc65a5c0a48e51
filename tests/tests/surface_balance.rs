//! Dialect C (API.md §4): `POST /api/chat/` with `{message}` only (the open chat),
//! the balance at `GET /api/tokens/`, and `tokens` in register's answer.

use chatbot_core::llm::ProviderError;
use chatbot_tests::{assert_error, Behaviour, TestApp};
use serde_json::json;

#[tokio::test]
async fn the_whole_flow_with_the_balance_at_every_step() {
    let app = TestApp::new().await;
    let registered = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "carol", "password": "password123"})),
        )
        .await;
    assert_eq!(registered.status, 201);
    assert_eq!(registered.body["tokens"], 4000);
    assert!(registered.body["token"].is_string());
    assert!(!registered.text.contains("password123"));
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "carol", "password": "password123"})),
        )
        .await;
    assert_eq!(login.status, 200);
    let token = login.body["token"].as_str().unwrap().to_string();

    let first = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"message": "Hello there"})),
        )
        .await;
    assert_eq!(first.status, 200, "200 even when it starts the chat: {}", first.text);
    assert_eq!(first.body["message"], "Hello there");
    assert_eq!(first.body["response"], "reply to: Hello there");
    assert_eq!(first.body["tokens_remaining"], 3900);
    let number = first.body["conversation_id"].as_i64().unwrap();
    let second = app
        .call("POST", "/api/chat/", Some(&token), Some(json!({"message": "Again"})))
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["conversation_id"], number, "the open chat continues");
    assert_eq!(second.body["tokens_remaining"], 3800);

    let tokens = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(tokens.status, 200);
    assert_eq!(tokens.body["tokens"], 3800);
    assert_eq!(tokens.body["tokens"].as_i64(), tokens.body["tokens"].as_i64());

    let chats = app.call("GET", "/api/chats/", Some(&token), None).await;
    assert_eq!(chats.body.as_array().unwrap().len(), 1);
    let chat_id = chats.body[0]["chat_id"].as_str().unwrap().to_string();
    assert_eq!(chats.body[0]["conversation"].as_array().unwrap().len(), 2);
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat_id}/"),
            Some(&token),
            Some(json!({"title": "Greetings"})),
        )
        .await;
    assert_eq!(renamed.body["title"], "Greetings");
    let deleted = app
        .call("DELETE", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, 200);
    let after = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"message": "New start"})),
        )
        .await;
    assert_eq!(after.status, 200);
    assert_ne!(after.body["conversation_id"], number, "a new chat after the delete");
}

#[tokio::test]
async fn an_empty_balance_is_402_and_nothing_is_spent() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "100")]).await;
    let token = app.register("carol").await;
    let first = app
        .call("POST", "/api/chat/", Some(&token), Some(json!({"message": "one"})))
        .await;
    assert_eq!(first.body["tokens_remaining"], 0);
    let second = app
        .call("POST", "/api/chat/", Some(&token), Some(json!({"message": "two"})))
        .await;
    assert_error(&second, 402);
    let tokens = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(tokens.body["tokens"], 0);
}

#[tokio::test]
async fn errors_are_json_4xx_or_5xx_and_failures_cost_nothing() {
    let app = TestApp::new().await;
    let unauthenticated = app
        .call("POST", "/api/chat/", None, Some(json!({"message": "hi"})))
        .await;
    assert_error(&unauthenticated, 401);
    let tokens = app.call("GET", "/api/tokens/", None, None).await;
    assert_error(&tokens, 401);
    let token = app.register("carol").await;
    let missing = app.call("POST", "/api/chat/", Some(&token), Some(json!({}))).await;
    assert_error(&missing, 400);
    assert_eq!(missing.body["field"], "message");
    let too_long = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"message": "x".repeat(16_001)})),
        )
        .await;
    assert_error(&too_long, 413);
    let wrong_type = app
        .call("POST", "/api/chat/", Some(&token), Some(json!({"message": 5})))
        .await;
    assert_error(&wrong_type, 400);
    app.provider
        .set(Behaviour::Fail(ProviderError::Unavailable("down".into())));
    let failed = app
        .call("POST", "/api/chat/", Some(&token), Some(json!({"message": "hi"})))
        .await;
    assert_error(&failed, 503);
    let tokens = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(tokens.body["tokens"], 4000);
}
