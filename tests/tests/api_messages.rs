//! Messages end to end: listing, editing, regenerating with kept versions.

use chatbot_core::llm::ProviderError;
use chatbot_tests::{assert_error, Behaviour, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;

async fn chat_with(app: &TestApp, token: &str, contents: &[&str]) -> String {
    let mut chat_id = String::new();
    for content in contents {
        chat_id = app.chat(token, content).await["chat_id"].as_str().unwrap().to_string();
    }
    chat_id
}

#[tokio::test]
async fn messages_are_listed_oldest_first_with_roles_and_pages() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = chat_with(&app, &token, &["one", "two", "three"]).await;
    let path = format!("/api/chats/{chat_id}/messages/");
    let all = app.call("GET", &path, Some(&token), None).await;
    assert_eq!(all.status, 200);
    let list = all.body.as_array().unwrap();
    let seen: Vec<(&str, &str)> = list
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("user", "one"),
            ("assistant", "reply to: one"),
            ("user", "two"),
            ("assistant", "reply to: two"),
            ("user", "three"),
            ("assistant", "reply to: three")
        ]
    );
    assert_eq!(list[1]["reply_to"], list[0]["message_id"]);
    assert_eq!(list[1]["provider"], "scripted");
    assert!(list[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(list[0]["timestamp"].as_str().unwrap().contains('/'));
    assert_eq!(list[0]["edited_at"], Value::Null);
    let first = app.call("GET", &format!("{path}?limit=4"), Some(&token), None).await;
    assert_eq!(first.body.as_array().unwrap().len(), 4);
    let next = first.next_url().expect("a next link");
    let rest = app.call("GET", next, Some(&token), None).await;
    let rest: Vec<&str> = rest
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["three", "reply to: three"]);
    let bad = app
        .call("GET", "/api/chats/not-a-uuid/messages/", Some(&token), None)
        .await;
    assert_eq!(bad.body["field"], "chat_id");
    let missing = app
        .call(
            "GET",
            &format!("/api/chats/{}/messages/", uuid::Uuid::now_v7()),
            Some(&token),
            None,
        )
        .await;
    assert_error(&missing, 404);
}

#[tokio::test]
async fn editing_a_message_changes_it_and_marks_the_time() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let sent = app.chat(&token, "original").await;
    let chat_id = sent["chat_id"].as_str().unwrap();
    let message_id = sent["reply"]["message_id"].as_str().unwrap();
    let path = format!("/api/chats/{chat_id}/messages/{message_id}/");
    let edited = app
        .call("PATCH", &path, Some(&token), Some(json!({"content": "changed"})))
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["message"], "Message updated successfully");
    assert_eq!(edited.body["content"], "changed");
    assert!(edited.body["edited_at"].is_string());
    assert_eq!(edited.body["reply"], Value::Null);
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    assert_eq!(chat.body["conversation"][0]["You"], "changed");
    assert_eq!(
        chat.body["conversation"][0]["Bot"], "reply to: original",
        "no regeneration was asked"
    );
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["requests"],
        1,
        "an edit alone is free"
    );
    let reply_id = sent["reply"]["reply_id"].as_str().unwrap();
    let reply_path = format!("/api/chats/{chat_id}/messages/{reply_id}/");
    let bot_edit = app
        .call(
            "PATCH",
            &reply_path,
            Some(&token),
            Some(json!({"content": "a better answer"})),
        )
        .await;
    assert_eq!(bot_edit.status, 200);
    let cannot = app
        .call(
            "PATCH",
            &reply_path,
            Some(&token),
            Some(json!({"content": "x", "regenerate": true})),
        )
        .await;
    assert_eq!(cannot.body["field"], "regenerate");
    for (body, status) in [
        (json!({}), 400),
        (json!({"content": ""}), 400),
        (json!({"content": "x".repeat(16_001)}), 413),
    ] {
        assert_error(&app.call("PATCH", &path, Some(&token), Some(body)).await, status);
    }
    let unknown = format!("/api/chats/{chat_id}/messages/{}/", uuid::Uuid::now_v7());
    assert_error(
        &app.call("PATCH", &unknown, Some(&token), Some(json!({"content": "x"})))
            .await,
        404,
    );
}

#[tokio::test]
async fn editing_with_regenerate_answers_the_new_content_and_keeps_the_old_reply() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let first = app.chat(&token, "first question").await;
    app.chat(&token, "second question").await;
    let chat_id = first["chat_id"].as_str().unwrap();
    let message_id = first["reply"]["message_id"].as_str().unwrap();
    let path = format!("/api/chats/{chat_id}/messages/{message_id}/");
    let edited = app
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"content": "better question", "regenerate": true})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let reply = &edited.body["reply"];
    assert_eq!(reply["content"], "reply to: better question");
    assert_eq!(reply["reply_to"], message_id);
    assert_eq!(reply["versions"][0]["content"], "reply to: first question");
    assert_eq!(reply["tokens_remaining"], 3700);
    // The model saw the conversation only up to the edited message.
    let seen = app.provider.reply_requests().pop().unwrap();
    assert_eq!(seen.turns.len(), 1);
    assert_eq!(seen.turns[0].content, "better question");
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    let turns = chat.body["conversation"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(
        (turns[0]["You"].as_str(), turns[0]["Bot"].as_str()),
        (Some("better question"), Some("reply to: better question"))
    );
    assert_eq!(turns[1]["Bot"], "reply to: second question");
}

#[tokio::test]
async fn regenerate_answers_the_last_message_again_and_lists_earlier_versions() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let sent = app.chat(&token, "tell me a joke").await;
    let chat_id = sent["chat_id"].as_str().unwrap();
    let path = format!("/api/chats/{chat_id}/regenerate/");
    let first = app.call("POST", &path, Some(&token), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["content"], "reply to: tell me a joke");
    assert_eq!(first.body["role"], "assistant");
    assert_eq!(first.body["reply_to"], sent["reply"]["message_id"]);
    assert_ne!(first.body["message_id"], sent["reply"]["reply_id"]);
    assert_eq!(first.body["versions"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["versions"][0]["message_id"], sent["reply"]["reply_id"]);
    let second = app
        .call("POST", &path, Some(&token), Some(json!({"model": "echo-large"})))
        .await;
    assert_eq!(second.body["model"], "echo-large");
    assert_eq!(second.body["versions"].as_array().unwrap().len(), 2);
    assert_eq!(second.body["tokens_remaining"], 3700);
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    let listed = messages.body.as_array().unwrap();
    assert_eq!(listed.len(), 2, "only the current reply is listed");
    assert_eq!(listed[1]["message_id"], second.body["message_id"]);
}

#[tokio::test]
async fn regenerate_failures_keep_the_old_reply_and_cost_nothing() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let sent = app.chat(&token, "question").await;
    let chat_id = sent["chat_id"].as_str().unwrap();
    app.provider.set(Behaviour::Fail(ProviderError::Failed("nope".into())));
    let failed = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&token), None)
        .await;
    assert_eq!(assert_error(&failed, 502), "provider_failed");
    assert_eq!(failed.body["chat_id"], chat_id);
    assert_eq!(failed.body["message_id"], sent["reply"]["message_id"]);
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    assert_eq!(chat.body["conversation"][0]["Bot"], "reply to: question");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"],
        3900
    );
}

#[tokio::test]
async fn regenerating_an_empty_chat_is_a_conflict() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = uuid::Uuid::now_v7();
    // A chat whose only message failed has a question to answer; an ended, empty one has none.
    app.provider
        .set(Behaviour::Fail(ProviderError::Unavailable("down".into())));
    app.call(
        "POST",
        "/api/chats/",
        Some(&token),
        Some(json!({"content": "hi", "chat_id": chat_id})),
    )
    .await;
    app.provider.set(Behaviour::Answer);
    let recovered = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&token), None)
        .await;
    assert_eq!(
        recovered.status, 200,
        "the kept message is answered: {}",
        recovered.text
    );
    assert_eq!(recovered.body["versions"], json!([]));
    let store = &app.state.store;
    let owner = store.user_by_username("alice").await.unwrap().unwrap();
    let empty = chatbot_core::store::Chat {
        id: uuid::Uuid::now_v7(),
        user_id: owner.id,
        number: store.next_chat_number(owner.id).await.unwrap(),
        title: None,
        created_at: chrono::Utc::now(),
        end_time: None,
    };
    store.create_chat(&empty).await.unwrap();
    let nothing = app
        .call(
            "POST",
            &format!("/api/chats/{}/regenerate/", empty.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(assert_error(&nothing, 409), "nothing_to_regenerate");
}

#[tokio::test]
async fn of_two_regenerations_at_once_one_is_kept_and_charged_the_other_is_a_409() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let sent = app.chat(&token, "question").await;
    let chat_id = sent["chat_id"].as_str().unwrap().to_string();
    let before = app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"]
        .as_i64()
        .unwrap();
    // Both are in the model at once, having read the same current reply.
    app.provider
        .set(Behaviour::Together(Arc::new(tokio::sync::Barrier::new(2))));
    let path = format!("/api/chats/{chat_id}/regenerate/");
    let (a, b) = tokio::join!(
        app.call("POST", &path, Some(&token), None),
        app.call("POST", &path, Some(&token), None)
    );
    app.provider.set(Behaviour::Answer);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let (won, lost) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_eq!(assert_error(&lost, 409), "reply_conflict");
    let after = app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"]
        .as_i64()
        .unwrap();
    assert_eq!(before - after, 100, "one charge: the loser was refunded");
    // One current reply (the winner's), the first kept as its earlier version.
    let listed = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    let listed = listed.body.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["message_id"], won.body["message_id"]);
    assert_eq!(won.body["versions"].as_array().unwrap().len(), 1);
    // A later regeneration builds on the winner.
    let next = app.call("POST", &path, Some(&token), None).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.body["versions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_edit_with_regenerate_that_cannot_be_paid_leaves_the_message_as_it_was() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "100")]).await;
    let token = app.register("alice").await;
    let sent = app.chat(&token, "original question").await;
    let chat_id = sent["chat_id"].as_str().unwrap();
    let message_id = sent["reply"]["message_id"].as_str().unwrap();
    let path = format!("/api/chats/{chat_id}/messages/{message_id}/");
    let refused = app
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"content": "changed question", "regenerate": true})),
        )
        .await;
    assert_eq!(refused.status, 402, "{}", refused.text);
    let listed = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    let question = &listed.body.as_array().unwrap()[0];
    assert_eq!(question["content"], "original question");
    assert_eq!(question["edited_at"], Value::Null);
    // Without regenerate the edit costs nothing and is saved.
    let edited = app
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"content": "changed question"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["content"], "changed question");
}
