//! Dialect B (API.md §4): Gemini-style conversations whose ids are chat numbers,
//! every success 200, and the fixes of the original's bugs (401 without a token,
//! 404 for another user's number, model failures as errors, 429 at the limit).

use chatbot_core::llm::ProviderError;
use chatbot_tests::{assert_error, Behaviour, TestApp};
use serde_json::{json, Value};

async fn create(app: &TestApp, token: &str, body: Option<Value>) -> Value {
    let created = app.call("POST", "/api/conversations/create/", Some(token), body).await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.body
}

async fn say(app: &TestApp, token: &str, conversation: Value, message: &str) -> Value {
    let sent = app
        .call(
            "POST",
            "/api/chat/",
            Some(token),
            Some(json!({"conversation_id": conversation, "message": message})),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    sent.body
}

#[tokio::test]
async fn the_whole_flow_answers_with_b_paths_fields_and_statuses() {
    let app = TestApp::new().await;
    let registered = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "gem", "password": "password123", "email": "gem@example.com"})),
        )
        .await;
    assert_eq!(registered.status, 201);
    assert!(!registered.text.contains("password123"), "no password in any answer");
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "gem", "password": "password123"})),
        )
        .await;
    assert_eq!(login.status, 200);
    assert!(!login.text.contains("password123"));
    let token = login.body["token"].as_str().unwrap().to_string();

    let created = create(&app, &token, None).await;
    assert_eq!(created["conversation_id"], 1);
    assert_eq!(created["title"], "New Chat");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let sent = say(&app, &token, json!(1), "Tell me about the Gemini models").await;
    assert_eq!(sent["conversation_id"], 1);
    assert_eq!(sent["user_message"], "Tell me about the Gemini models");
    assert_eq!(sent["ai_response"], "reply to: Tell me about the Gemini models");
    assert_eq!(sent["history_length"], 2);
    assert!(sent["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_ne!(sent["title"], "New Chat", "the first message names the conversation");
    let second = say(&app, &token, json!("1"), "And the next one?").await;
    assert_eq!(second["conversation_id"], 1, "a number sent as a string");
    assert_eq!(second["history_length"], 4);

    let listed = app.call("GET", "/api/conversations/", Some(&token), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["user"], "gem");
    assert_eq!(listed.body["total"], 1);
    let entry = &listed.body["conversations"][0];
    assert_eq!(entry["id"], 1);
    assert_eq!(entry["title"], sent["title"]);
    assert!(entry["created_at"].is_string());

    let messages = app
        .call("GET", "/api/conversations/1/messages/", Some(&token), None)
        .await;
    assert_eq!(messages.status, 200);
    assert_eq!(messages.body["conversation_id"], 1);
    assert_eq!(messages.body["total_messages"], 4);
    let list = messages.body["messages"].as_array().unwrap();
    let roles: Vec<_> = list.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "model", "user", "model"],
        "Gemini's role names, oldest first"
    );
    assert_eq!(list[3]["content"], "reply to: And the next one?");
    assert!(list[0]["timestamp"].is_string());

    let renamed = app
        .call(
            "PATCH",
            "/api/conversations/1/rename/",
            Some(&token),
            Some(json!({"title": "Gemini notes"})),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(
        renamed.body,
        json!({"message": "Title updated", "conversation_id": 1, "new_title": "Gemini notes"})
    );

    let regenerated = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            Some(&token),
            Some(json!({"conversation_id": 1})),
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text);
    assert_eq!(regenerated.body["conversation_id"], 1);
    assert_eq!(regenerated.body["new_ai_response"], "reply to: And the next one?");
    let after = app
        .call("GET", "/api/conversations/1/messages/", Some(&token), None)
        .await;
    assert_eq!(
        after.body["total_messages"], 4,
        "the earlier reply is a kept version, not listed"
    );
    assert_eq!(after.body["title"], "Gemini notes");

    let deleted = app
        .call("DELETE", "/api/conversations/1/delete/", Some(&token), None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["message"], "Conversation deleted successfully");
    let gone = app
        .call("GET", "/api/conversations/1/messages/", Some(&token), None)
        .await;
    assert_error(&gone, 404);
    let listed = app.call("GET", "/api/conversations", Some(&token), None).await;
    assert_eq!(listed.body["total"], 0);
    let next = create(&app, &token, Some(json!({"title": "Fresh"}))).await;
    assert_eq!(next["conversation_id"], 2, "numbers are never reused");
    assert_eq!(next["title"], "Fresh");
}

#[tokio::test]
async fn another_users_or_a_missing_number_is_404_and_bad_numbers_are_400() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    create(&app, &alice, None).await;
    say(&app, &alice, json!(1), "private").await;
    for number in ["1", "7"] {
        let messages = app
            .call(
                "GET",
                &format!("/api/conversations/{number}/messages/"),
                Some(&bob),
                None,
            )
            .await;
        assert_error(&messages, 404);
        let rename = app
            .call(
                "PATCH",
                &format!("/api/conversations/{number}/rename/"),
                Some(&bob),
                Some(json!({"title": "mine"})),
            )
            .await;
        assert_error(&rename, 404);
        let delete = app
            .call(
                "DELETE",
                &format!("/api/conversations/{number}/delete/"),
                Some(&bob),
                None,
            )
            .await;
        assert_error(&delete, 404);
        let chat = app
            .call(
                "POST",
                "/api/chat/",
                Some(&bob),
                Some(json!({"conversation_id": number, "message": "hi"})),
            )
            .await;
        assert_error(&chat, 404);
        let regenerate = app
            .call(
                "POST",
                "/api/chat/regenerate/",
                Some(&bob),
                Some(json!({"conversation_id": number})),
            )
            .await;
        assert_error(&regenerate, 404);
    }
    let tokens = app.call("GET", "/api/tokens/", Some(&bob), None).await;
    assert_eq!(tokens.body["tokens"], 4000, "a refused chat is not charged");
    let still = app
        .call("GET", "/api/conversations/1/messages/", Some(&alice), None)
        .await;
    assert_eq!(still.body["total_messages"], 2, "bob changed nothing");

    for bad in ["0", "-3", "abc", "1.5"] {
        let response = app
            .call(
                "GET",
                &format!("/api/conversations/{bad}/messages/"),
                Some(&alice),
                None,
            )
            .await;
        assert_error(&response, 400);
        assert_eq!(response.body["field"], "conversation_id", "{bad}");
    }
    for bad in [json!(0), json!(-1), json!("x"), json!(true), json!(2.5), json!([1])] {
        let response = app
            .call(
                "POST",
                "/api/chat/",
                Some(&alice),
                Some(json!({"conversation_id": bad, "message": "hi"})),
            )
            .await;
        assert_error(&response, 400);
        assert_eq!(response.body["field"], "conversation_id", "{bad}");
    }
}

#[tokio::test]
async fn every_route_without_a_token_is_a_401_json_error() {
    let app = TestApp::new().await;
    let routes = [
        ("POST", "/api/conversations/create/", Some(json!({}))),
        ("GET", "/api/conversations/", None),
        (
            "POST",
            "/api/chat/",
            Some(json!({"conversation_id": 1, "message": "hi"})),
        ),
        ("GET", "/api/conversations/1/messages/", None),
        ("PATCH", "/api/conversations/1/rename/", Some(json!({"title": "x"}))),
        ("DELETE", "/api/conversations/1/delete/", None),
        ("POST", "/api/chat/regenerate/", Some(json!({"conversation_id": 1}))),
    ];
    for (method, path, body) in routes {
        let response = app.call(method, path, None, body.clone()).await;
        assert_error(&response, 401);
        assert!(
            response.header("location").is_none(),
            "{method} {path}: never a redirect"
        );
        let bad = app.call(method, path, Some("not-a-token"), body).await;
        assert_error(&bad, 401);
    }
}

#[tokio::test]
async fn missing_or_invalid_fields_are_400_naming_the_field() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    create(&app, &token, None).await;
    let cases = [
        ("POST", "/api/chat/", json!({"conversation_id": 1}), "message"),
        (
            "POST",
            "/api/chat/",
            json!({"conversation_id": 1, "message": "  "}),
            "message",
        ),
        ("POST", "/api/chat/regenerate/", json!({}), "conversation_id"),
        ("PATCH", "/api/conversations/1/rename/", json!({}), "title"),
        ("PATCH", "/api/conversations/1/rename/", json!({"title": " "}), "title"),
        (
            "PATCH",
            "/api/conversations/1/rename/",
            json!({"title": "x".repeat(201)}),
            "title",
        ),
        ("POST", "/api/conversations/create/", json!({"title": ""}), "title"),
    ];
    for (method, path, body, field) in cases {
        let response = app.call(method, path, Some(&token), Some(body.clone())).await;
        assert_error(&response, 400);
        assert_eq!(response.body["field"], field, "{method} {path} {body}");
    }
    let not_json = app
        .send(
            "POST",
            "/api/chat/",
            [
                ("authorization".to_string(), format!("Token {token}")),
                ("content-type".to_string(), "application/json".to_string()),
            ]
            .into(),
            Some("{not json".into()),
            "198.51.100.7",
        )
        .await;
    assert_error(&not_json, 400);
    let unknown_provider = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            Some(&token),
            Some(json!({"conversation_id": 1, "provider": "nope"})),
        )
        .await;
    assert_eq!(unknown_provider.body["field"], "provider");
    assert_error(&unknown_provider, 400);
    let unknown_model = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"conversation_id": 1, "message": "hi", "model": "nope"})),
        )
        .await;
    assert_error(&unknown_model, 400);
    let tokens = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(tokens.body["tokens"], 4000, "refused requests cost nothing");
    let nothing_yet = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            Some(&token),
            Some(json!({"conversation_id": 1})),
        )
        .await;
    assert_eq!(assert_error(&nothing_yet, 409), "nothing_to_regenerate");
}

#[tokio::test]
async fn a_model_failure_is_an_error_naming_the_kept_message_never_an_empty_200() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    create(&app, &token, None).await;
    app.provider.set(Behaviour::Fail(ProviderError::Failed("boom".into())));
    let failed = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"conversation_id": 1, "message": "are you there?"})),
        )
        .await;
    assert_error(&failed, 502);
    assert!(failed.body["message_id"].is_string());
    assert!(failed.body["chat_id"].is_string());
    app.provider.set(Behaviour::Fail(ProviderError::Timeout("slow".into())));
    let timed_out = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            Some(&token),
            Some(json!({"conversation_id": 1})),
        )
        .await;
    assert_error(&timed_out, 504);
    let tokens = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(tokens.body["tokens"], 4000, "failed calls are not charged");
    app.provider.set(Behaviour::Answer);
    let again = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            Some(&token),
            Some(json!({"conversation_id": 1})),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["new_ai_response"], "reply to: are you there?");
    let messages = app
        .call("GET", "/api/conversations/1/messages/", Some(&token), None)
        .await;
    let roles: Vec<_> = messages.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles, ["user", "model"]);
}

#[tokio::test]
async fn the_rate_limit_is_a_429_with_retry_after() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let token = app.register("alice").await;
    create(&app, &token, None).await;
    say(&app, &token, json!(1), "one").await;
    say(&app, &token, json!(1), "two").await;
    let limited = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"conversation_id": 1, "message": "three"})),
        )
        .await;
    assert_error(&limited, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    let regenerate = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            Some(&token),
            Some(json!({"conversation_id": 1})),
        )
        .await;
    assert_error(&regenerate, 429);
}

#[tokio::test]
async fn conversations_are_listed_newest_first_searched_and_paged() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    for title in ["Rust lifetimes", "Cooking pasta", "Rust macros"] {
        create(&app, &token, Some(json!({"title": title}))).await;
    }
    let all = app.call("GET", "/api/conversations/", Some(&token), None).await;
    let ids: Vec<_> = all.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2, 1]);
    assert_eq!(all.body["next_cursor"], Value::Null);
    let rust = app
        .call("GET", "/api/conversations/?search=rust", Some(&token), None)
        .await;
    assert_eq!(rust.body["total"], 2);
    let titles: Vec<_> = rust.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Rust macros", "Rust lifetimes"]);
    let first = app.call("GET", "/api/conversations/?limit=2", Some(&token), None).await;
    assert_eq!(first.body["total"], 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert!(first.header("link").unwrap().contains("rel=\"next\""));
    let rest = app
        .call(
            "GET",
            &format!("/api/conversations/?limit=2&cursor={cursor}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(rest.body["conversations"][0]["id"], 1);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let bad = app.call("GET", "/api/conversations/?limit=0", Some(&token), None).await;
    assert_eq!(bad.body["field"], "limit");
}

#[tokio::test]
async fn a_created_conversation_is_the_open_chat_that_a_message_without_id_continues() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    create(&app, &token, None).await;
    create(&app, &token, None).await;
    let sent = app
        .call("POST", "/api/chat/", Some(&token), Some(json!({"message": "no id"})))
        .await;
    assert_eq!(sent.status, 200);
    assert_eq!(sent.body["conversation_id"], 2, "the newest created conversation");
    let null_id = say(&app, &token, Value::Null, "null is no id").await;
    assert_eq!(null_id["conversation_id"], 2);
    let explicit = say(&app, &token, json!(1), "to the first").await;
    assert_eq!(explicit["conversation_id"], 1);
    assert_eq!(explicit["history_length"], 2);
}
