//! Chats end to end: dialect A's session semantics, listing, renaming, ending,
//! deleting, ownership, display times and context selection.

use chatbot_core::llm::ProviderError;
use chatbot_core::store::Role;
use chatbot_tests::{assert_error, Behaviour, TestApp};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

fn id(body: &Value) -> String {
    body["chat_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_first_message_starts_a_chat_and_the_next_continues_it() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let first = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "Hello there, how are you today?"})),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let body = &first.body;
    assert_eq!(body["reply"]["You"], "Hello there, how are you today?");
    assert_eq!(body["reply"]["Bot"], "reply to: Hello there, how are you today?");
    assert_eq!(body["reply"]["provider"], "scripted");
    assert_eq!(body["reply"]["model"], "echo");
    assert!(body["reply"]["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(body["reply"]["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(body["tokens_remaining"], 3900);
    assert_eq!(body["session_id"], body["chat_id"]);
    assert_eq!(body["number"], 1, "the account's first chat");
    assert_eq!(body["end_time"], Value::Null);
    assert_eq!(body["conversation"].as_array().unwrap().len(), 1);
    let title = body["title"].as_str().unwrap();
    assert!(
        !title.is_empty() && title.split_whitespace().count() <= 5,
        "title {title:?}"
    );
    let second = app
        .call("POST", "/api/chats/", Some(&token), Some(json!({"content": "Second"})))
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(id(&second.body), id(body));
    assert_eq!(second.body["number"], 1);
    assert_eq!(second.body["title"], title, "the title is set once");
    let conversation = second.body["conversation"].as_array().unwrap();
    assert_eq!(conversation.len(), 2);
    assert_eq!(conversation[1]["You"], "Second");
    assert_eq!(conversation[1]["Bot"], "reply to: Second");
    assert_eq!(conversation[1]["message_id"], second.body["reply"]["message_id"]);
}

#[tokio::test]
async fn the_title_falls_back_to_the_first_words_when_the_model_fails() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    app.provider.set(Behaviour::Fail(ProviderError::Failed("boom".into())));
    let failed = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "one two three four five six seven"})),
        )
        .await;
    assert_error(&failed, 502);
    let chat = app
        .call(
            "GET",
            &format!("/api/chats/{}/", failed.body["chat_id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(chat.body["title"], "one two three four five");
}

#[tokio::test]
async fn times_are_displayed_in_the_zone_of_the_request_then_the_user_then_the_server() {
    let app = TestApp::new().await;
    app.set_now(Some(Utc.with_ymd_and_hms(2026, 3, 1, 20, 30, 5).unwrap()));
    let token = app.register("alice").await;
    let sent = app.chat(&token, "hi").await;
    assert_eq!(sent["start_time"], "02/03/2026 01:30:05", "Asia/Karachi by default");
    assert_eq!(sent["created_at"], "2026-03-01T20:30:05.000Z");
    assert_eq!(sent["conversation"][0]["timestamp"], "02/03/2026 01:30:05");
    let path = format!("/api/chats/{}/", id(&sent));
    let paris = app
        .call("GET", &format!("{path}?tz=Europe/Paris"), Some(&token), None)
        .await;
    assert_eq!(paris.body["start_time"], "01/03/2026 21:30:05");
    app.call(
        "PATCH",
        "/api/me/",
        Some(&token),
        Some(json!({"time_zone": "America/New_York"})),
    )
    .await;
    let user_zone = app.call("GET", &path, Some(&token), None).await;
    assert_eq!(user_zone.body["start_time"], "01/03/2026 15:30:05");
    let bad = app
        .call("GET", &format!("{path}?tz=Not/AZone"), Some(&token), None)
        .await;
    assert_eq!(assert_error(&bad, 400), "invalid_field");
    assert_eq!(bad.body["field"], "tz");
}

#[tokio::test]
async fn a_client_chosen_chat_id_creates_that_chat_and_others_cannot_use_it() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let chosen = uuid::Uuid::new_v4().to_string();
    let created = app
        .call(
            "POST",
            "/api/chats/",
            Some(&alice),
            Some(json!({"content": "hi", "chat_id": chosen})),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["chat_id"], chosen);
    let again = app
        .call(
            "POST",
            "/api/chats/",
            Some(&alice),
            Some(json!({"content": "again", "chat_id": chosen})),
        )
        .await;
    assert_eq!(again.status, 200);
    let intruder = app
        .call(
            "POST",
            "/api/chats/",
            Some(&bob),
            Some(json!({"content": "mine?", "chat_id": chosen})),
        )
        .await;
    assert_error(&intruder, 404);
    let bad = app
        .call(
            "POST",
            "/api/chats/",
            Some(&alice),
            Some(json!({"content": "hi", "chat_id": "not-a-uuid"})),
        )
        .await;
    assert_eq!(bad.body["field"], "chat_id");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&bob), None).await.body["tokens"],
        4000,
        "a refused send costs nothing"
    );
}

#[tokio::test]
async fn ending_a_session_closes_it_and_the_next_message_starts_a_new_one() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let none = app.end_session(&token).await;
    assert_eq!(assert_error(&none, 404), "not_found");
    assert_eq!(none.body["error"], "No active chat session found to end.");
    let first = app.chat(&token, "hello").await;
    let ended = app.end_session(&token).await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_eq!(ended.body["message"], "Chat session ended successfully");
    assert_eq!(ended.body["chat_id"], first["chat_id"]);
    assert_eq!(ended.body["session_id"], first["chat_id"]);
    assert!(ended.body["end_time"].as_str().is_some());
    let again = app.end_session(&token).await;
    assert_error(&again, 404);
    let next = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "new topic"})),
        )
        .await;
    assert_eq!(next.status, 201);
    assert_ne!(next.body["chat_id"], first["chat_id"]);
    assert_eq!(
        (first["number"].clone(), next.body["number"].clone()),
        (json!(1), json!(2))
    );
    // Ending a given chat by id.
    let by_id = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"end_session": true, "chat_id": id(&next.body)})),
        )
        .await;
    assert_eq!(by_id.status, 200);
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["requests"],
        2,
        "ending costs nothing"
    );
}

#[tokio::test]
async fn content_is_required_and_checked() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let missing = app.call("POST", "/api/chats/", Some(&token), Some(json!({}))).await;
    assert_eq!(missing.body["field"], "content");
    assert_error(&missing, 400);
    let blank = app
        .call("POST", "/api/chats/", Some(&token), Some(json!({"content": "   "})))
        .await;
    assert_eq!(blank.body["field"], "content");
    let long = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "é".repeat(16_001)})),
        )
        .await;
    assert_eq!(assert_error(&long, 413), "message_too_long");
    let at_limit = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "é".repeat(16_000)})),
        )
        .await;
    assert_eq!(at_limit.status, 201, "16 000 characters (32 000 bytes) are allowed");
    let unicode = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "مرحبا 👋 こんにちは \u{0000} end"})),
        )
        .await;
    assert_eq!(unicode.status, 200);
    assert_eq!(unicode.body["reply"]["You"], "مرحبا 👋 こんにちは \u{0000} end");
}

#[tokio::test]
async fn provider_and_model_are_chosen_per_request() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let large = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "hi", "model": "echo-large"})),
        )
        .await;
    assert_eq!(large.body["reply"]["model"], "echo-large");
    let slash = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "hi", "model": "scripted/echo"})),
        )
        .await;
    assert_eq!(slash.body["reply"]["model"], "echo");
    let unknown = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "hi", "provider": "nope"})),
        )
        .await;
    assert_eq!(unknown.body["field"], "provider");
    let bad_model = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "hi", "model": "gpt-9"})),
        )
        .await;
    assert_eq!(bad_model.body["field"], "model");
}

#[tokio::test]
async fn an_unavailable_model_is_503_and_keeps_the_message_free_of_charge() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let response = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "hi", "provider": "flan-t5"})),
        )
        .await;
    assert_eq!(assert_error(&response, 503), "provider_unavailable");
    assert_eq!(
        response.body["error"], "Flan-T5 is not available on this server.",
        "a neutral sentence: the setting is named in the log only"
    );
    let chat_id = response.body["chat_id"].as_str().unwrap();
    let message_id = response.body["message_id"].as_str().unwrap();
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    assert_eq!(chat.body["conversation"][0]["message_id"], message_id);
    assert_eq!(chat.body["conversation"][0]["You"], "hi");
    assert_eq!(chat.body["conversation"][0]["Bot"], Value::Null);
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await.body;
    assert_eq!(balance, json!({"tokens": 4000, "spent": 0, "requests": 0}));
}

#[tokio::test]
async fn model_failures_map_to_502_503_504_and_are_never_charged() {
    let app = TestApp::with_vars(&[("PROVIDER_TIMEOUT_SECS", "1")]).await;
    let token = app.register("alice").await;
    let cases = [
        (
            Behaviour::Fail(ProviderError::Failed("upstream said 500 with secret detail".into())),
            502,
            "provider_failed",
        ),
        (
            Behaviour::Fail(ProviderError::Unavailable("no key".into())),
            503,
            "provider_unavailable",
        ),
        (
            Behaviour::Fail(ProviderError::Timeout("slow".into())),
            504,
            "provider_timeout",
        ),
        (
            Behaviour::Slow(std::time::Duration::from_secs(3)),
            504,
            "provider_timeout",
        ),
    ];
    for (behaviour, status, code) in cases {
        app.provider.set(behaviour);
        let response = app
            .call("POST", "/api/chats/", Some(&token), Some(json!({"content": "hi"})))
            .await;
        assert_eq!(assert_error(&response, status), code);
        assert!(response.body["message_id"].as_str().is_some());
    }
    let balance = app.call("GET", "/api/tokens/", Some(&token), None).await.body;
    assert_eq!(balance["tokens"], 4000);
    app.provider.set(Behaviour::Answer);
    let chat = app.chat(&token, "now it works").await;
    let turns = chat["conversation"].as_array().unwrap();
    assert_eq!(turns.len(), 5, "the four failed messages were kept");
    assert!(turns[..4].iter().all(|t| t["Bot"].is_null()));
}

#[tokio::test]
async fn the_model_sees_the_newest_turns_within_the_cap_and_budget() {
    let app = TestApp::with_vars(&[("CONTEXT_MESSAGES", "4")]).await;
    let token = app.register("alice").await;
    for i in 0..5 {
        app.chat(&token, &format!("message {i}")).await;
    }
    let last = app.provider.reply_requests().pop().unwrap();
    let seen: Vec<(Role, String)> = last.turns.iter().map(|t| (t.role, t.content.clone())).collect();
    assert_eq!(
        seen,
        vec![
            (Role::User, "message 3".to_string()),
            (Role::Assistant, "reply to: message 3".to_string()),
            (Role::User, "message 4".to_string()),
        ],
        "the newest turns, oldest first, never opening with a reply"
    );
    // A small token budget keeps only what fits, but always the new message.
    app.provider.set_input_budget(8);
    app.chat(&token, "a b c d e f g h i j k l").await;
    let last = app.provider.reply_requests().pop().unwrap();
    assert_eq!(last.turns.len(), 1);
    assert_eq!(last.turns[0].content, "a b c d e f g h i j k l");
}

#[tokio::test]
async fn chats_list_newest_first_with_filters_and_pages() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let mut ids = Vec::new();
    for topic in ["bread baking", "rust lifetimes", "garden tomatoes"] {
        let sent = app.chat(&token, topic).await;
        ids.push(id(&sent));
        app.end_session(&token).await;
    }
    let all = app.call("GET", "/api/chats/", Some(&token), None).await;
    assert_eq!(all.status, 200);
    let listed: Vec<String> = all.body.as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, ids.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(all.body[0]["conversation"][0]["You"], "garden tomatoes");
    assert!(all.header("link").is_none());
    let search = app
        .call("GET", "/api/chats/?search=LIFETIMES", Some(&token), None)
        .await;
    assert_eq!(
        search.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    let session = app
        .call("GET", &format!("/api/chats/?session_id={}", ids[0]), Some(&token), None)
        .await;
    assert_eq!(session.body.as_array().unwrap().len(), 1);
    let page = app.call("GET", "/api/chats/?limit=2", Some(&token), None).await;
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    let link = page.header("link").expect("a next link");
    assert!(link.ends_with("; rel=\"next\"") && link.contains("limit=2"), "{link}");
    let next_url = page.next_url().unwrap();
    let next = app.call("GET", next_url, Some(&token), None).await;
    assert_eq!(
        next.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![ids[0].clone()]
    );
    assert!(next.header("link").is_none());
    let long_search = format!("search={}", "a".repeat(201));
    for bad in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=garbage",
        "period=month",
        "session_id=123",
        long_search.as_str(),
    ] {
        let response = app.call("GET", &format!("/api/chats/?{bad}"), Some(&token), None).await;
        assert_error(&response, 400);
    }
    // Dialect B's list reads `search` the same way.
    let b = app
        .call("GET", &format!("/api/conversations/?{long_search}"), Some(&token), None)
        .await;
    assert_eq!(assert_error(&b, 400), "invalid_field");
    assert_eq!(b.body["field"], "search");
}

#[tokio::test]
async fn periods_are_days_in_the_display_zone_computed_per_request() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    // Karachi is UTC+5: 20:00 UTC on the 1st is already the 2nd there.
    let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
    let mut made = Vec::new();
    for when in [day(1, 20), day(1, 10), day(25, 12)] {
        app.set_now(Some(when));
        made.push(id(&app.chat(&token, "hello").await));
        app.end_session(&token).await;
    }
    // "Now" is 2 March, 10:00 in Karachi.
    app.set_now(Some(day(2, 5)));
    let ids = |body: &Value| body.as_array().unwrap().iter().map(id).collect::<Vec<_>>();
    let today = app.call("GET", "/api/chats/?period=today", Some(&token), None).await;
    assert_eq!(ids(&today.body), vec![made[0].clone()]);
    let yesterday = app
        .call("GET", "/api/chats/?period=yesterday", Some(&token), None)
        .await;
    assert_eq!(ids(&yesterday.body), vec![made[1].clone()]);
    let week = app.call("GET", "/api/chats/?period=week", Some(&token), None).await;
    assert_eq!(ids(&week.body), vec![made[0].clone(), made[1].clone()]);
    // The same request a day later: "today" moved with the clock.
    app.set_now(Some(day(3, 5)));
    let later = app
        .call("GET", "/api/chats/?period=yesterday", Some(&token), None)
        .await;
    assert_eq!(ids(&later.body), vec![made[0].clone()]);
    // In UTC the first chat was made on the 1st.
    app.set_now(Some(day(2, 5)));
    let utc = app
        .call("GET", "/api/chats/?period=yesterday&tz=UTC", Some(&token), None)
        .await;
    assert_eq!(ids(&utc.body), vec![made[0].clone(), made[1].clone()]);
}

#[tokio::test]
async fn chats_are_renamed_ended_reopened_and_deleted() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = id(&app.chat(&token, "hi").await);
    let path = format!("/api/chats/{chat_id}/");
    let renamed = app
        .call("PATCH", &path, Some(&token), Some(json!({"title": "  My chat  "})))
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["title"], "My chat");
    let ended = app
        .call("PATCH", &path, Some(&token), Some(json!({"end_session": true})))
        .await;
    assert!(ended.body["end_time"].is_string());
    let reopened = app
        .call("PATCH", &path, Some(&token), Some(json!({"end_session": false})))
        .await;
    assert!(reopened.body["end_time"].is_null());
    for bad in [
        json!({}),
        json!({"title": ""}),
        json!({"title": "x".repeat(201)}),
        json!({"title": 5}),
        json!({"name": "x"}),
    ] {
        assert_error(&app.call("PATCH", &path, Some(&token), Some(bad)).await, 400);
    }
    let deleted = app.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(deleted.body, json!({"message": "Chat deleted successfully"}));
    assert_error(&app.call("GET", &path, Some(&token), None).await, 404);
    assert_error(&app.call("DELETE", &path, Some(&token), None).await, 404);
}

#[tokio::test]
async fn delete_all_chats_reports_the_count() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let bob = app.register("bob").await;
    for _ in 0..2 {
        app.chat(&token, "hi").await;
        app.end_session(&token).await;
    }
    app.chat(&bob, "bob's").await;
    let deleted = app.call("DELETE", "/api/chats", Some(&token), None).await;
    assert_eq!(deleted.body, json!({"message": "All chats deleted", "deleted": 2}));
    assert_eq!(app.call("GET", "/api/chats/", Some(&token), None).await.body, json!([]));
    assert_eq!(
        app.call("GET", "/api/chats/", Some(&bob), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn another_users_chats_and_messages_are_404() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let sent = app.chat(&alice, "private").await;
    let chat_id = id(&sent);
    let message_id = sent["reply"]["message_id"].as_str().unwrap();
    let base = format!("/api/chats/{chat_id}");
    let attempts = [
        ("GET", format!("{base}/"), None),
        ("PATCH", format!("{base}/"), Some(json!({"title": "mine"}))),
        ("DELETE", format!("{base}/"), None),
        ("GET", format!("{base}/messages/"), None),
        (
            "PATCH",
            format!("{base}/messages/{message_id}/"),
            Some(json!({"content": "changed"})),
        ),
        ("POST", format!("{base}/regenerate/"), Some(json!({}))),
        (
            "POST",
            "/api/chats/".to_string(),
            Some(json!({"end_session": true, "chat_id": chat_id})),
        ),
    ];
    for (method, path, body) in attempts {
        let response = app.call(method, &path, Some(&bob), body).await;
        assert_eq!(assert_error(&response, 404), "not_found", "{method} {path}");
    }
    assert_eq!(app.call("GET", "/api/chats/", Some(&bob), None).await.body, json!([]));
    let still = app.call("GET", &format!("{base}/"), Some(&alice), None).await;
    assert_eq!(still.body["conversation"][0]["You"], "private");
    assert_ne!(still.body["title"], "mine");
}
