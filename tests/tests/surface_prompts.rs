//! Dialect D (API.md §4): a prompt route per provider answering 201 `{reply}` in
//! a chat the client names by UUID, its message list, and the day lists, whose
//! days are the caller's zone's, computed on every request.

use chatbot_core::llm::keys::{KeyStore, StaticKeys};
use chatbot_core::llm::remote::{gemini::Gemini, openai::OpenAi};
use chatbot_core::llm::ProviderError;
use chatbot_tests::{assert_error, Behaviour, ScriptedAs, TestApp};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

async fn app() -> TestApp {
    let app = TestApp::new().await;
    let inner = app.provider.clone();
    // The prompt routes fix their provider: the scripted model answers under both names.
    app.with_provider(Arc::new(ScriptedAs::sharing("openai", "gpt-4o-mini", inner.clone())))
        .with_provider(Arc::new(ScriptedAs::sharing("gemini", "gemini-1.5-flash", inner)))
}

async fn prompt(app: &TestApp, token: &str, path: &str, chat_id: Uuid, content: &str) -> Value {
    let response = app
        .call(
            "POST",
            path,
            Some(token),
            Some(json!({"chat_id": chat_id.to_string(), "content": content})),
        )
        .await;
    assert_eq!(response.status, 201, "{path}: {}", response.text);
    response.body
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn chat_ids(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .iter()
        .map(|c| c["chat_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_whole_flow_with_the_provider_fixed_by_the_route() {
    let app = app().await;
    let registered = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "dora", "password": "password123"})),
        )
        .await;
    assert_eq!(registered.status, 201);
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "dora", "password": "password123"})),
        )
        .await;
    let token = login.body["token"].as_str().unwrap().to_string();

    let chat = Uuid::new_v4();
    let gpt = prompt(&app, &token, "/prompt_gpt/", chat, "Hi GPT").await;
    assert_eq!(gpt["reply"], "reply to: Hi GPT");
    assert_eq!(gpt["chat_id"], chat.to_string(), "the client's id");
    assert_eq!(gpt["provider"], "openai");
    assert_eq!(gpt["model"], "gpt-4o-mini");
    let gemini = prompt(&app, &token, "/api/prompt_gemini/", chat, "Hi Gemini").await;
    assert_eq!(gemini["reply"], "reply to: Hi Gemini");
    assert_eq!(gemini["chat_id"], chat.to_string(), "the same chat continues");
    assert_eq!(gemini["provider"], "gemini");
    prompt(&app, &token, "/api/prompt_gpt/", chat, "Once more").await;
    prompt(&app, &token, "/prompt_gemini/", Uuid::new_v4(), "Another chat").await;

    for path in [
        format!("/get_chat_messages/{chat}/"),
        format!("/api/get_chat_messages/{chat}"),
    ] {
        let messages = app.call("GET", &path, Some(&token), None).await;
        assert_eq!(messages.status, 200, "{path}");
        let list = messages.body.as_array().unwrap();
        assert_eq!(list.len(), 6, "oldest first, both providers' turns");
        assert_eq!(list[0]["content"], "Hi GPT");
        assert_eq!(list[0]["role"], "user");
        assert_eq!(list[1]["provider"], "openai");
        assert_eq!(list[3]["provider"], "gemini");
        assert!(list[3]["created_at"].is_string());
    }

    for path in ["/todays_chat/", "/api/todays_chat"] {
        let today = app.call("GET", path, Some(&token), None).await;
        assert_eq!(today.status, 200);
        assert_eq!(chat_ids(&today.body).len(), 2, "{path}");
        assert_eq!(today.body[1]["chat_id"], chat.to_string(), "newest first");
        assert_eq!(today.body[1]["conversation"].as_array().unwrap().len(), 3);
    }
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat}/"),
            Some(&token),
            Some(json!({"title": "Both models"})),
        )
        .await;
    assert_eq!(renamed.body["title"], "Both models");
    let deleted = app
        .call("DELETE", &format!("/api/chats/{chat}/"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, 200);
    let gone = app
        .call("GET", &format!("/get_chat_messages/{chat}/"), Some(&token), None)
        .await;
    assert_error(&gone, 404);
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(balance.body["tokens"], 3600, "four prompts");
}

#[tokio::test]
async fn day_lists_follow_the_users_zone_and_the_clock_of_each_request() {
    let app = app().await;
    let token = app.register("dora").await;
    let now = at("2026-03-10T19:30:00Z");
    // Created at 18:30 UTC: 23:30 on the 10th in Karachi (the default zone), the
    // same day as "now" in New York but yesterday in Karachi, where it is already the 11th.
    let late = Uuid::new_v4();
    let created = [
        (Uuid::new_v4(), now - Duration::minutes(5)),
        (late, at("2026-03-10T18:30:00Z")),
        (Uuid::new_v4(), now - Duration::days(3)),
        (Uuid::new_v4(), now - Duration::days(8)),
        (Uuid::new_v4(), now - Duration::days(12)),
    ];
    for (id, when) in created {
        app.set_now(Some(when));
        prompt(&app, &token, "/prompt_gpt/", id, "hello").await;
    }
    app.set_now(Some(now));
    let list = |path: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app.call("GET", path, Some(&token), None).await;
            assert_eq!(response.status, 200, "{path}: {}", response.text);
            chat_ids(&response.body)
        }
    };
    let id = |i: usize| created[i].0.to_string();
    assert_eq!(list("/todays_chat/").await, [id(0)]);
    assert_eq!(list("/yesterdays_chat/").await, [id(1)]);
    assert_eq!(
        list("/seven_days_chat/").await,
        [id(2), id(3)],
        "the seven days before yesterday"
    );

    let zone = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"time_zone": "America/New_York"})),
        )
        .await;
    assert_eq!(zone.status, 200);
    assert_eq!(list("/todays_chat/").await, [id(0), id(1)], "the user's own zone");
    assert!(list("/yesterdays_chat/").await.is_empty());

    app.set_now(Some(now + Duration::days(1)));
    assert_eq!(
        list("/api/yesterdays_chat/").await,
        [id(0), id(1)],
        "a day later the same warm app moves them to yesterday"
    );
    assert!(list("/todays_chat/").await.is_empty());
    let paris = app
        .call("GET", "/todays_chat/?tz=Nowhere/Else", Some(&token), None)
        .await;
    assert_eq!(paris.body["field"], "tz");
}

#[tokio::test]
async fn a_day_list_holds_the_ten_newest() {
    let app = app().await;
    let token = app.register("dora").await;
    let start = at("2026-03-10T08:00:00Z");
    let mut ids = Vec::new();
    for i in 0..12 {
        let id = Uuid::new_v4();
        app.set_now(Some(start + Duration::minutes(i)));
        prompt(&app, &token, "/prompt_gemini/", id, "hi").await;
        ids.push(id.to_string());
    }
    app.set_now(Some(start + Duration::hours(1)));
    let today = app.call("GET", "/todays_chat/", Some(&token), None).await;
    let expected: Vec<_> = ids.iter().rev().take(10).cloned().collect();
    assert_eq!(chat_ids(&today.body), expected);
}

#[tokio::test]
async fn bad_input_foreign_chats_and_failures_are_clear_errors() {
    let app = app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let chat = Uuid::new_v4();
    prompt(&app, &alice, "/prompt_gpt/", chat, "mine").await;

    for path in ["/prompt_gpt/", "/api/prompt_gemini/"] {
        let foreign = app
            .call(
                "POST",
                path,
                Some(&bob),
                Some(json!({"chat_id": chat.to_string(), "content": "let me in"})),
            )
            .await;
        assert_error(&foreign, 404);
        let bad_id = app
            .call(
                "POST",
                path,
                Some(&bob),
                Some(json!({"chat_id": "42", "content": "hi"})),
            )
            .await;
        assert_error(&bad_id, 400);
        assert_eq!(bad_id.body["field"], "chat_id");
        let no_content = app
            .call("POST", path, Some(&bob), Some(json!({"chat_id": chat.to_string()})))
            .await;
        assert_error(&no_content, 400);
        assert_eq!(no_content.body["field"], "content");
        let other_model = app
            .call(
                "POST",
                path,
                Some(&bob),
                Some(json!({"content": "hi", "model": "echo"})),
            )
            .await;
        assert_error(&other_model, 400);
        let anonymous = app.call("POST", path, None, Some(json!({"content": "hi"}))).await;
        assert_error(&anonymous, 401);
    }
    let foreign = app
        .call("GET", &format!("/get_chat_messages/{chat}/"), Some(&bob), None)
        .await;
    assert_error(&foreign, 404);
    let bad = app.call("GET", "/get_chat_messages/7/", Some(&bob), None).await;
    assert_eq!(bad.body["field"], "chat_id");
    for path in ["/todays_chat/", "/api/yesterdays_chat/", "/seven_days_chat/"] {
        assert_error(&app.call("GET", path, None, None).await, 401);
        let empty = app.call("GET", path, Some(&bob), None).await;
        assert_eq!(empty.body, json!([]), "bob sees none of alice's chats");
    }
    let balance = app.call("GET", "/api/tokens/", Some(&bob), None).await;
    assert_eq!(balance.body["tokens"], 4000, "refused prompts are free");

    app.provider
        .set(Behaviour::Fail(ProviderError::Unavailable("no key".into())));
    let failed = app
        .call(
            "POST",
            "/prompt_gemini/",
            Some(&alice),
            Some(json!({"chat_id": chat.to_string(), "content": "still there?"})),
        )
        .await;
    assert_error(&failed, 503);
    assert_eq!(failed.body["chat_id"], chat.to_string());
    assert!(failed.body["message_id"].is_string());
    let balance = app.call("GET", "/api/tokens/", Some(&alice), None).await;
    assert_eq!(balance.body["tokens"], 3900);
}

#[tokio::test]
async fn a_prompt_to_a_provider_without_a_key_is_503_and_costs_nothing() {
    let none: Arc<dyn KeyStore> = Arc::new(StaticKeys::new(HashMap::new()));
    let timeout = std::time::Duration::from_secs(2);
    let app = TestApp::new()
        .await
        .with_provider(Arc::new(OpenAi::new(
            "http://127.0.0.1:9",
            vec!["gpt-4o-mini".into()],
            none.clone(),
            timeout,
        )))
        .with_provider(Arc::new(Gemini::new(
            "http://127.0.0.1:9",
            vec!["gemini-1.5-flash".into()],
            none,
            timeout,
        )));
    let token = app.register("dora").await;
    for (path, key) in [
        ("/prompt_gpt/", "OPENAI_API_KEY"),
        ("/api/prompt_gemini/", "GEMINI_API_KEY"),
    ] {
        let response = app
            .call("POST", path, Some(&token), Some(json!({"content": "hi"})))
            .await;
        assert_eq!(assert_error(&response, 503), "provider_unavailable", "{path}");
        let error = response.body["error"].as_str().unwrap();
        assert!(error.ends_with("is not configured on this server."), "{error}");
        assert!(!error.contains(key), "the setting is named in the log only: {error}");
    }
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await;
    assert_eq!(balance.body["tokens"], 4000);
}

#[tokio::test]
async fn the_prompt_routes_are_rate_limited_with_retry_after() {
    let app = {
        let app = TestApp::with_vars(&[("RATE_LIMIT_PER_MINUTE", "1")]).await;
        let inner = app.provider.clone();
        app.with_provider(Arc::new(ScriptedAs::sharing("openai", "gpt-4o-mini", inner)))
    };
    let token = app.register("dora").await;
    prompt(&app, &token, "/prompt_gpt/", Uuid::new_v4(), "one").await;
    let limited = app
        .call(
            "POST",
            "/api/prompt_gpt/",
            Some(&token),
            Some(json!({"content": "two"})),
        )
        .await;
    assert_error(&limited, 429);
    assert!(limited.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
}
