//! The token balance and rate limits under load.

use chatbot_tests::{assert_error, Behaviour, TestApp};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn each_answered_request_costs_the_configured_tokens() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "250"), ("TOKENS_PER_REQUEST", "100")]).await;
    let token = app.register("alice").await;
    assert_eq!(app.chat(&token, "one").await["tokens_remaining"], 150);
    assert_eq!(app.chat(&token, "two").await["tokens_remaining"], 50);
    let short = app
        .call("POST", "/api/chats/", Some(&token), Some(json!({"content": "three"})))
        .await;
    assert_eq!(assert_error(&short, 402), "insufficient_tokens");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body,
        json!({"tokens": 50, "spent": 200, "requests": 2})
    );
    let chat_id = app.call("GET", "/api/chats/", Some(&token), None).await.body[0]["chat_id"]
        .as_str()
        .unwrap()
        .to_string();
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    assert_eq!(
        messages.body.as_array().unwrap().len(),
        4,
        "a refused send stores nothing"
    );
    let regenerate = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&token), None)
        .await;
    assert_error(&regenerate, 402);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sends_with_a_balance_for_five_give_five_replies() {
    let app = Arc::new(TestApp::with_vars(&[("INITIAL_TOKENS", "500"), ("TOKENS_PER_REQUEST", "100")]).await);
    let token = app.register("alice").await;
    // A slow model keeps every request in flight at once.
    app.provider.set(Behaviour::Slow(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            let token = token.clone();
            tokio::spawn(async move {
                app.call(
                    "POST",
                    "/api/chats/",
                    Some(&token),
                    Some(json!({"content": format!("message {i}")})),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| matches!(s, 200 | 201)).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!((ok, refused), (5, 15), "{statuses:?}");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body,
        json!({"tokens": 0, "spent": 500, "requests": 5})
    );
    let chats = app.call("GET", "/api/chats/", Some(&token), None).await;
    let replies: usize = chats
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation"].as_array().unwrap().len())
        .sum();
    assert_eq!(replies, 5, "only charged requests stored messages");
}

#[tokio::test]
async fn model_routes_are_limited_per_user_with_headers() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    app.set_now(Some(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app
        .call("POST", "/api/chats/", Some(&alice), Some(json!({"content": "1"})))
        .await;
    assert_eq!(first.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    // Every request counts, failed ones too.
    let invalid = app
        .call("POST", "/api/chats/", Some(&alice), Some(json!({"content": ""})))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.header("x-ratelimit-remaining"), Some("1"));
    let chat_id = first.body["chat_id"].as_str().unwrap();
    app.call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&alice), None)
        .await;
    let limited = app
        .call("POST", "/api/chats/", Some(&alice), Some(json!({"content": "4"})))
        .await;
    assert_eq!(assert_error(&limited, 429), "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert_eq!(limited.body["retry_after"], 60);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        app.call("POST", "/api/chats/", Some(&bob), Some(json!({"content": "bob"})))
            .await
            .status,
        201,
        "per user"
    );
    assert_eq!(
        app.call("GET", "/api/chats/", Some(&alice), None).await.status,
        200,
        "reads are not limited"
    );
    app.set_now(Some(chrono::DateTime::from_timestamp(1_800_000_060, 0).unwrap()));
    assert_eq!(
        app.call("POST", "/api/chats/", Some(&alice), Some(json!({"content": "5"})))
            .await
            .status,
        200,
        "a new minute"
    );
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&alice), None).await.body["requests"],
        3,
        "the 429 cost nothing"
    );
}

#[tokio::test]
async fn register_and_login_are_limited_per_client_address() {
    let app = TestApp::with_vars(&[("AUTH_RATE_LIMIT_PER_MINUTE", "2")]).await;
    app.set_now(Some(chrono::DateTime::from_timestamp(1_800_000_030, 0).unwrap()));
    let body = |name: &str| Some(json!({"username": name, "password": "password123"}).to_string());
    let headers = || std::collections::HashMap::from([("content-type".to_string(), "application/json".to_string())]);
    assert_eq!(
        app.send("POST", "/api/register/", headers(), body("alice"), "203.0.113.1")
            .await
            .status,
        201
    );
    let login = app
        .send("POST", "/api/login/", headers(), body("alice"), "203.0.113.1")
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.header("x-ratelimit-remaining"), Some("0"));
    let limited = app
        .send("POST", "/api/login/", headers(), body("alice"), "203.0.113.1")
        .await;
    assert_eq!(assert_error(&limited, 429), "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("30"));
    assert_eq!(
        app.send("POST", "/api/login/", headers(), body("alice"), "203.0.113.2")
            .await
            .status,
        200,
        "another address"
    );
}

#[tokio::test]
async fn writes_share_one_window_per_user_across_routes_and_dialects() {
    let app = TestApp::with_vars(&[("WRITE_RATE_LIMIT_PER_MINUTE", "5"), ("RATE_LIMIT_PER_MINUTE", "100")]).await;
    app.set_now(Some(chrono::DateTime::from_timestamp(1_800_000_015, 0).unwrap()));
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    // A model route keeps its own window: it does not use up the writes.
    let sent = app
        .call("POST", "/api/chats/", Some(&alice), Some(json!({"content": "hi"})))
        .await;
    assert_eq!(sent.status, 201);
    let chat_id = sent.body["chat_id"].as_str().unwrap().to_string();
    // Five writes of four dialects, and a search: one window.
    let created = app
        .call("POST", "/api/conversations/create/", Some(&alice), Some(json!({})))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(created.header("x-ratelimit-remaining"), Some("4"));
    let thread = app.call("POST", "/chat/threads/new/", Some(&alice), None).await;
    assert_eq!(thread.status, 201);
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat_id}/"),
            Some(&alice),
            Some(json!({"title": "renamed"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    // A plain list is a read; a search counts.
    let listed = app.call("GET", "/api/chats/", Some(&alice), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-ratelimit-remaining"), None);
    let searched = app
        .call("GET", "/api/conversations/?search=hi", Some(&alice), None)
        .await;
    assert_eq!(searched.status, 200);
    assert_eq!(searched.header("x-ratelimit-remaining"), Some("1"));
    // Failed writes count too (every request to a limited route does).
    let profile = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&alice),
            Some(json!({"time_zone": "Mars/Base"})),
        )
        .await;
    assert_eq!(profile.status, 400);
    for (method, path, body) in [
        ("POST", "/chat/threads/new/".to_string(), None),
        ("GET", "/api/chats/?search=renamed".to_string(), None),
        ("DELETE", format!("/api/chats/{chat_id}/"), None),
        ("PATCH", "/api/me/".to_string(), Some(json!({"time_zone": "UTC"}))),
        ("DELETE", "/chat/threads/delete/".to_string(), None),
    ] {
        let limited = app.call(method, &path, Some(&alice), body).await;
        assert_eq!(assert_error(&limited, 429), "rate_limited", "{method} {path}");
        assert_eq!(limited.header("retry-after"), Some("45"), "{method} {path}");
        assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    }
    // Nothing was changed by a refused write.
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&alice), None)
        .await;
    assert_eq!(chat.status, 200);
    assert_eq!(chat.body["title"], "renamed");
    // Reads, model routes and other users go on.
    assert_eq!(app.call("GET", "/chat/threads/", Some(&alice), None).await.status, 200);
    let sent = app
        .call("POST", "/api/chats/", Some(&alice), Some(json!({"content": "still"})))
        .await;
    assert!(matches!(sent.status, 200 | 201), "{}", sent.text);
    assert_eq!(
        app.call("POST", "/chat/threads/new/", Some(&bob), None).await.status,
        201
    );
    // The next minute starts afresh.
    app.set_now(Some(chrono::DateTime::from_timestamp(1_800_000_060, 0).unwrap()));
    assert_eq!(
        app.call("POST", "/chat/threads/new/", Some(&alice), None).await.status,
        201
    );
}
