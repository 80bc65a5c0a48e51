//! Usage (API.md §7): what kept charges bought, per day, model and key, adding up
//! to the balance's `spent`; every user's totals for admins.

use chatbot_core::llm::ProviderError;
use chatbot_core::store::UserChanges;
use chatbot_tests::{assert_error, Behaviour, TestApp};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

async fn usage(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app.call("GET", &format!("/api/usage/{query}"), Some(token), None).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body
}

#[tokio::test]
async fn usage_counts_every_kept_reply_by_model_and_key_and_adds_up_to_spent() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "500"), ("TOKENS_PER_REQUEST", "100")]).await;
    let token = app.register("alice").await;
    let t = Some(token.as_str());
    // A fixed clock: every reply on one day, whenever the test runs.
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    app.set_now(Some(now));
    let chat = app.chat(&token, "one").await;
    let chat_id = chat["chat_id"].as_str().unwrap();
    let streamed = app
        .call("POST", "/api/chats/stream/", t, Some(json!({"content": "two"})))
        .await;
    assert!(streamed.text.contains("event: done"), "{}", streamed.text);
    let again = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), t, None)
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let key = app
        .call("POST", "/api/keys/", t, Some(json!({"name": "script"})))
        .await
        .body;
    let auth = format!("Bearer {}", key["key"].as_str().unwrap());
    let ask = json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "hi"}]});
    let completion = app
        .call_with("POST", "/v1/chat/completions", &[("authorization", &auth)], Some(ask))
        .await;
    assert_eq!(completion.status, 200, "{}", completion.text);
    // A failure is refunded and a refused payment takes nothing: neither counts.
    app.provider
        .set(Behaviour::Fail(ProviderError::Unavailable("down".into())));
    assert_eq!(
        app.call("POST", "/api/chats/", t, Some(json!({"content": "x"})))
            .await
            .status,
        503
    );
    app.provider.set(Behaviour::Answer);
    app.chat(&token, "five").await;
    assert_error(
        &app.call("POST", "/api/chats/", t, Some(json!({"content": "six"})))
            .await,
        402,
    );

    let report = usage(&app, &token, "?tz=UTC").await;
    let spent = app.call("GET", "/api/tokens/", t, None).await.body["spent"].clone();
    assert_eq!(spent, 500);
    assert_eq!(report["total"]["requests"], 5);
    assert_eq!(report["total"]["tokens_charged"], spent, "usage adds up to spent");
    assert!(report["total"]["prompt_tokens"].as_i64().unwrap() > 0);
    assert!(report["total"]["completion_tokens"].as_i64().unwrap() > 0);
    let today = "2026-06-01";
    assert_eq!(report["to"], today);
    assert_eq!(report["from"], "2026-05-03", "30 days, today included");
    assert_eq!(report["time_zone"], "UTC");
    assert_eq!(report["by_day"].as_array().unwrap().len(), 1);
    assert_eq!(report["by_day"][0]["date"], today);
    assert_eq!(report["by_day"][0]["tokens_charged"], 500);
    assert_eq!(report["by_model"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&report["by_model"][0]["provider"], &report["by_model"][0]["model"]),
        (&json!("scripted"), &json!("echo"))
    );
    assert_eq!(
        report["by_key"],
        json!([{"key_id": key["key_id"], "name": "script", "requests": 1, "tokens_charged": 100,
                "prompt_tokens": report["by_key"][0]["prompt_tokens"], "completion_tokens": report["by_key"][0]["completion_tokens"]}])
    );
    // Another user's usage is their own.
    let bob = app.register("bob").await;
    assert_eq!(usage(&app, &bob, "").await["total"]["requests"], 0);
}

#[tokio::test]
async fn days_are_the_readers_and_spans_are_checked() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    // 21:30 UTC on 1 March is 2 March in Karachi (UTC+5).
    app.set_now(Some(Utc.with_ymd_and_hms(2026, 3, 1, 21, 30, 0).unwrap()));
    app.chat(&token, "late").await;
    let utc = usage(&app, &token, "?tz=UTC&from=2026-03-01&to=2026-03-01").await;
    assert_eq!(utc["by_day"][0]["date"], "2026-03-01");
    let karachi = usage(&app, &token, "?tz=Asia/Karachi").await;
    assert_eq!(
        (&karachi["from"], &karachi["to"]),
        (&json!("2026-02-01"), &json!("2026-03-02"))
    );
    assert_eq!(karachi["by_day"][0]["date"], "2026-03-02");
    let none = usage(&app, &token, "?tz=Asia/Karachi&from=2026-03-01&to=2026-03-01").await;
    assert_eq!(none["total"]["requests"], 0, "{none}");
    for (query, field) in [
        ("?from=01/03/2026", "from"),
        ("?to=tomorrow", "to"),
        ("?from=2026-03-02&to=2026-03-01", "from"),
        ("?from=2024-01-01&to=2026-03-01", "from"),
        ("?tz=Mars/Olympus", "tz"),
    ] {
        let bad = app
            .call("GET", &format!("/api/usage/{query}"), Some(&token), None)
            .await;
        assert_eq!(assert_error(&bad, 400), "invalid_field", "{query}");
        assert_eq!(bad.body["field"], field, "{query}");
    }
}

#[tokio::test]
async fn admins_see_every_users_totals_and_nobody_else_does() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.chat(&alice, "one").await;
    app.chat(&alice, "two").await;
    app.chat(&bob, "three").await;
    let refused = app.call("GET", "/api/admin/usage/", Some(&alice), None).await;
    assert_eq!(assert_error(&refused, 403), "not_admin");
    let root = app.register("root").await;
    let root_id = app.state.store.user_by_username("root").await.unwrap().unwrap().id;
    let grant = UserChanges {
        is_admin: Some(true),
        ..UserChanges::default()
    };
    app.state.store.update_user(root_id, &grant).await.unwrap();
    let view = app.call("GET", "/api/admin/usage/", Some(&root), None).await;
    assert_eq!(view.status, 200, "{}", view.text);
    let users: Vec<(String, i64)> = view.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_string(),
                u["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(users, [("alice".to_string(), 2), ("bob".to_string(), 1)]);
    assert_eq!(view.body["total"]["tokens_charged"], 300);
}
