//! Personal API keys (API.md §7): shown once, hashed, `/v1/*` only, charged to the
//! owner, counted, revoked at once, and with deactivation or the account.

use chatbot_core::store::UserChanges;
use chatbot_tests::{assert_error, TestApp, TestResponse};
use serde_json::{json, Value};

async fn create(app: &TestApp, token: &str, name: &str) -> Value {
    let created = app
        .call("POST", "/api/keys/", Some(token), Some(json!({"name": name})))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body
}

/// A request with `Authorization: Bearer <key>`, as OpenAI's clients send it.
async fn bearer(app: &TestApp, method: &str, path: &str, key: &str, body: Option<Value>) -> TestResponse {
    let auth = format!("Bearer {key}");
    app.call_with(method, path, &[("authorization", &auth)], body).await
}

fn completion() -> Value {
    json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "Hello"}]})
}

#[tokio::test]
async fn a_key_is_shown_once_and_authenticates_v1_for_its_owner() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let created = create(&app, &token, "  laptop  ").await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("sk-cb-") && key.len() >= 6 + 43, "{key}");
    assert_eq!(created["name"], "laptop", "trimmed");
    let listed = app.call("GET", "/api/keys/", Some(&token), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.body,
        json!([{"key_id": created["key_id"], "name": "laptop", "created_at": created["created_at"],
                "last_used_at": null, "requests": 0}]),
        "never the key again"
    );
    assert!(!listed.text.contains(key));

    let models = bearer(&app, "GET", "/v1/models", key, None).await;
    assert_eq!(models.status, 200, "{}", models.text);
    let answer = bearer(&app, "POST", "/v1/chat/completions", key, Some(completion())).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["choices"][0]["message"]["content"], "reply to: Hello");
    // Charged to the owner, and counted on the key.
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await.body;
    assert_eq!(balance, json!({"tokens": 3900, "spent": 100, "requests": 1}));
    let listed = app.call("GET", "/api/keys/", Some(&token), None).await.body;
    assert_eq!(listed[0]["requests"], 2);
    assert!(listed[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn a_key_is_refused_outside_v1() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let key = create(&app, &token, "ci").await["key"].as_str().unwrap().to_string();
    for (method, path) in [
        ("GET", "/api/chats/"),
        ("GET", "/api/me/"),
        ("GET", "/api/keys/"),
        ("GET", "/auth/status/"),
    ] {
        let refused = bearer(&app, method, path, &key, None).await;
        assert_eq!(assert_error(&refused, 401), "not_authenticated", "{path}");
        assert!(
            refused.body["error"].as_str().unwrap().contains("/v1/"),
            "{}",
            refused.text
        );
    }
    let chat = bearer(&app, "POST", "/api/chats/", &key, Some(json!({"content": "hi"}))).await;
    assert_error(&chat, 401);
    // In the Token scheme too.
    let auth = format!("Token {key}");
    let me = app
        .call_with("GET", "/api/me/", &[("authorization", &auth)], None)
        .await;
    assert_error(&me, 401);
    assert_eq!(
        app.call("GET", "/api/keys/", Some(&token), None).await.body[0]["requests"],
        0
    );
    let unknown = bearer(&app, "GET", "/v1/models", "sk-cb-nothing-like-it", None).await;
    assert_eq!(unknown.status, 401, "{}", unknown.text);
}

#[tokio::test]
async fn a_revoked_key_stops_at_once_and_only_its_owner_revokes_it() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let bob = app.register("bob").await;
    let created = create(&app, &token, "ci").await;
    let (key, id) = (created["key"].as_str().unwrap(), created["key_id"].as_str().unwrap());
    let path = format!("/api/keys/{id}/");
    assert_error(&app.call("DELETE", &path, Some(&bob), None).await, 404);
    assert_eq!(bearer(&app, "GET", "/v1/models", key, None).await.status, 200);
    let revoked = app.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(bearer(&app, "GET", "/v1/models", key, None).await.status, 401);
    assert_error(&app.call("DELETE", &path, Some(&token), None).await, 404);
    assert_eq!(app.call("GET", "/api/keys/", Some(&token), None).await.body, json!([]));
    let bad = app.call("DELETE", "/api/keys/not-a-uuid/", Some(&token), None).await;
    assert_eq!(assert_error(&bad, 400), "invalid_field");
}

#[tokio::test]
async fn a_password_change_keeps_keys_deactivation_and_deletion_revoke_them() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let key = create(&app, &token, "ci").await["key"].as_str().unwrap().to_string();
    let changed = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"password": {"old": "password123", "new": "another-password"}})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(bearer(&app, "GET", "/v1/models", &key, None).await.status, 200);

    // An administrator deactivates the account: the key is gone for good.
    let admin = app.register("root").await;
    let admin_id = app.state.store.user_by_username("root").await.unwrap().unwrap().id;
    let grant = UserChanges {
        is_admin: Some(true),
        ..UserChanges::default()
    };
    app.state.store.update_user(admin_id, &grant).await.unwrap();
    let off = app
        .call("POST", "/api/users/alice/deactivate/", Some(&admin), None)
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(bearer(&app, "GET", "/v1/models", &key, None).await.status, 401);
    let on = app.call("POST", "/api/users/alice/activate/", Some(&admin), None).await;
    assert_eq!(on.status, 200);
    assert_eq!(
        bearer(&app, "GET", "/v1/models", &key, None).await.status,
        401,
        "not back"
    );
    assert_eq!(app.call("GET", "/api/keys/", Some(&token), None).await.body, json!([]));

    let key = create(&app, &token, "again").await["key"].as_str().unwrap().to_string();
    let deleted = app.call("DELETE", "/api/me/", Some(&token), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(bearer(&app, "GET", "/v1/models", &key, None).await.status, 401);
}

#[tokio::test]
async fn names_are_1_to_100_characters_and_an_account_holds_20_keys() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let long = "n".repeat(101);
    for body in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": long}),
        json!({}),
        json!({"name": "x", "scope": "all"}),
        json!({"name": 5}),
    ] {
        let refused = app.call("POST", "/api/keys/", Some(&token), Some(body.clone())).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
    }
    create(&app, &token, &"n".repeat(100)).await;
    for i in 1..20 {
        create(&app, &token, &format!("key {i}")).await;
    }
    let over = app
        .call("POST", "/api/keys/", Some(&token), Some(json!({"name": "one more"})))
        .await;
    assert_eq!(assert_error(&over, 409), "too_many_api_keys");
    assert_eq!(
        app.call("GET", "/api/keys/", Some(&token), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        20
    );
}
