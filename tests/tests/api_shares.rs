//! Share links (API.md §7): a read-only snapshot of a chat's current messages,
//! read without signing in, listed and revoked by its owner, and revoked with the
//! chat, all chats or the account.

use chatbot_core::conversation::new_message;
use chatbot_core::store::{Role, UserChanges, MAX_SNAPSHOT_BYTES};
use chatbot_tests::{assert_error, TestApp, SOME_SHARE_ID};
use serde_json::{json, Value};
use uuid::Uuid;

/// A new chat of `token`'s user with one question and its reply; its id.
async fn chat_with(app: &TestApp, token: &str, content: &str) -> String {
    let sent = app
        .call("POST", "/api/chats/", Some(token), Some(json!({"content": content})))
        .await;
    assert!(matches!(sent.status, 200 | 201), "{}", sent.text);
    let id = sent.body["chat_id"].as_str().unwrap().to_string();
    app.end_session(token).await;
    id
}

async fn share(app: &TestApp, token: &str, chat_id: &str) -> Value {
    let created = app
        .call("POST", &format!("/api/chats/{chat_id}/share/"), Some(token), None)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body
}

/// The public read, without any credentials.
async fn read(app: &TestApp, share_id: &str) -> chatbot_tests::TestResponse {
    app.call("GET", &format!("/api/shared/{share_id}/"), None, None).await
}

#[tokio::test]
async fn a_share_is_a_snapshot_anyone_reads_without_signing_in() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = chat_with(&app, &token, "Is <b>this</b> \"safe\"? ✓").await;
    let created = share(&app, &token, &chat_id).await;
    let share_id = created["share_id"].as_str().unwrap();
    // 256 random bits, base64url.
    assert_eq!(share_id.len(), 43, "{share_id}");
    assert!(share_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(created["url"], format!("/s/{share_id}"));
    assert_eq!(created["chat_id"], chat_id);
    assert_eq!(created["messages"], 2);

    let shared = read(&app, share_id).await;
    assert_eq!(shared.status, 200, "{}", shared.text);
    assert_eq!(shared.header("cache-control"), Some("no-store"));
    let listed = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await
        .body;
    let expected: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"role": m["role"], "content": m["content"], "created_at": m["created_at"]}))
        .collect();
    assert_eq!(shared.body["messages"], json!(expected));
    assert_eq!(shared.body["messages"][0]["content"], "Is <b>this</b> \"safe\"? ✓");
    assert_eq!(shared.body["messages"][1]["role"], "assistant");
    assert_eq!(shared.body["shared_at"], created["shared_at"]);
    let title = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await
        .body["title"]
        .clone();
    assert_eq!(shared.body["title"], title);
    // Nothing of the owner or the chat beyond that.
    let keys: Vec<&String> = shared.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["messages", "shared_at", "title"]);
    assert!(!shared.text.contains("alice") && !shared.text.contains(&chat_id));
    // Without the trailing slash too, and with a token of anyone.
    let bob = app.register("bob").await;
    let again = app
        .call("GET", &format!("/api/shared/{share_id}"), Some(&bob), None)
        .await;
    assert_eq!(again.body, shared.body);
}

#[tokio::test]
async fn later_messages_edits_and_renames_leave_the_snapshot_as_it_was() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = chat_with(&app, &token, "first question").await;
    let share_id = share(&app, &token, &chat_id).await["share_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = read(&app, &share_id).await.body;

    let more = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "second question", "chat_id": chat_id})),
        )
        .await;
    assert_eq!(more.status, 200, "{}", more.text);
    let messages = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await
        .body;
    let first = messages[0]["message_id"].as_str().unwrap();
    let edited = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat_id}/messages/{first}/"),
            Some(&token),
            Some(json!({"content": "changed"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat_id}/"),
            Some(&token),
            Some(json!({"title": "Renamed"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(read(&app, &share_id).await.body, before);
    assert_eq!(before["messages"][0]["content"], "first question");
    assert_eq!(before["messages"].as_array().unwrap().len(), 2);

    // A new link shows the chat as it is now.
    let now = share(&app, &token, &chat_id).await;
    assert_eq!(now["messages"], 4);
    let shown = read(&app, now["share_id"].as_str().unwrap()).await.body;
    assert_eq!(shown["title"], "Renamed");
    assert_eq!(shown["messages"][0]["content"], "changed");
}

#[tokio::test]
async fn links_are_listed_newest_first_paged_and_revoked_by_their_owner_only() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let bob = app.register("bob").await;
    let chat_id = chat_with(&app, &token, "hello").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            share(&app, &token, &chat_id).await["share_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let listed = app.call("GET", "/api/shares/", Some(&token), None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let listed_ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["share_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, [&ids[2], &ids[1], &ids[0]]);
    assert_eq!(listed.body[0]["url"], format!("/s/{}", ids[2]));
    assert_eq!(listed.body[0]["chat_id"], chat_id);
    assert!(listed.body[0]["shared_at"].is_string());
    // Paged like every list: a signed cursor in the Link header.
    let page = app.call("GET", "/api/shares/?limit=2", Some(&token), None).await;
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    let next = page.next_url().expect("a next page").to_string();
    let rest = app.call("GET", &next, Some(&token), None).await;
    assert_eq!(rest.body[0]["share_id"], ids[0]);
    assert!(rest.next_url().is_none());
    let theirs = app.call("GET", &next, Some(&bob), None).await;
    assert_eq!(assert_error(&theirs, 400), "invalid_field", "another user's cursor");
    assert_eq!(app.call("GET", "/api/shares/", Some(&bob), None).await.body, json!([]));

    // Another user's link is a 404 to them, and stays.
    let path = format!("/api/shares/{}/", ids[1]);
    assert_error(&app.call("DELETE", &path, Some(&bob), None).await, 404);
    assert_eq!(read(&app, &ids[1]).await.status, 200);
    let revoked = app.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(assert_error(&read(&app, &ids[1]).await, 404), "not_found");
    assert_error(&app.call("DELETE", &path, Some(&token), None).await, 404);
    assert_eq!(read(&app, &ids[0]).await.status, 200, "the others stay");
    assert_eq!(
        app.call("GET", "/api/shares/", Some(&token), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn unknown_malformed_and_unauthenticated_requests_get_json_errors() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let bob = app.register("bob").await;
    for id in [SOME_SHARE_ID, "short", "%2e%2e", &"a".repeat(44), &"A".repeat(2000)] {
        let missing = read(&app, id).await;
        assert_eq!(assert_error(&missing, 404), "not_found", "{id}");
        let missing = app
            .call("DELETE", &format!("/api/shares/{id}/"), Some(&token), None)
            .await;
        assert_eq!(assert_error(&missing, 404), "not_found", "{id}");
    }
    // Only the owner shares a chat; an unknown or malformed chat id is a 404/400.
    let chat_id = chat_with(&app, &token, "mine").await;
    let path = format!("/api/chats/{chat_id}/share/");
    assert_error(&app.call("POST", &path, Some(&bob), None).await, 404);
    let unknown = format!("/api/chats/{}/share/", Uuid::now_v7());
    assert_error(&app.call("POST", &unknown, Some(&token), None).await, 404);
    let bad = app.call("POST", "/api/chats/nope/share/", Some(&token), None).await;
    assert_eq!(assert_error(&bad, 400), "invalid_field");
    // Creating, listing and revoking need a token.
    assert_error(&app.call("POST", &path, None, None).await, 401);
    assert_error(&app.call("GET", "/api/shares/", None, None).await, 401);
    let revoke = format!("/api/shares/{SOME_SHARE_ID}/");
    assert_error(&app.call("DELETE", &revoke, None, None).await, 401);
    assert_eq!(
        assert_error(&app.call("GET", "/api/shares/?limit=0", Some(&token), None).await, 400),
        "invalid_field"
    );
    assert_error(
        &app.call("PUT", &format!("/api/shared/{SOME_SHARE_ID}/"), None, None)
            .await,
        405,
    );
}

#[tokio::test]
async fn deleting_the_chat_all_chats_or_the_account_revokes_its_links() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (one, two) = (
        chat_with(&app, &token, "one").await,
        chat_with(&app, &token, "two").await,
    );
    let first = share(&app, &token, &one).await["share_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = share(&app, &token, &two).await["share_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = app
        .call("DELETE", &format!("/api/chats/{one}/"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_error(&read(&app, &first).await, 404);
    assert_eq!(read(&app, &second).await.status, 200);
    let listed = app.call("GET", "/api/shares/", Some(&token), None).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["share_id"], second);

    let all = app.call("DELETE", "/api/chats/", Some(&token), None).await;
    assert_eq!(all.status, 200);
    assert_error(&read(&app, &second).await, 404);
    assert_eq!(
        app.call("GET", "/api/shares/", Some(&token), None).await.body,
        json!([])
    );

    let three = chat_with(&app, &token, "three").await;
    let third = share(&app, &token, &three).await["share_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(read(&app, &third).await.status, 200);
    let gone = app.call("DELETE", "/api/me/", Some(&token), None).await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    assert_error(&read(&app, &third).await, 404);
}

#[tokio::test]
async fn a_deactivated_owners_links_are_hidden_until_reactivation() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = chat_with(&app, &token, "hello").await;
    let share_id = share(&app, &token, &chat_id).await["share_id"]
        .as_str()
        .unwrap()
        .to_string();
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
    assert_eq!(assert_error(&read(&app, &share_id).await, 404), "not_found");
    let on = app.call("POST", "/api/users/alice/activate/", Some(&admin), None).await;
    assert_eq!(on.status, 200);
    assert_eq!(read(&app, &share_id).await.status, 200);
}

#[tokio::test]
async fn a_chat_too_large_for_one_link_is_a_413_and_an_empty_chat_shares_nothing() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = chat_with(&app, &token, "start").await;
    let chat = Uuid::parse_str(&chat_id).unwrap();
    // 16 000 characters of 3 bytes each (the longest a message may be) per
    // message: the most that fit under the bound share (one DynamoDB item holds
    // them), one more does not.
    let long = "€".repeat(16_000);
    let fit = MAX_SNAPSHOT_BYTES / long.len();
    let add = |i: usize| {
        let role = if i.is_multiple_of(2) {
            Role::User
        } else {
            Role::Assistant
        };
        let message = new_message(chat, role, long.clone(), chrono::Utc::now());
        let store = app.state.store.clone();
        async move { store.add_message(&message).await.unwrap() }
    };
    for i in 0..fit {
        add(i).await;
    }
    let largest = share(&app, &token, &chat_id).await;
    assert_eq!(largest["messages"], fit + 2);
    let shown = read(&app, largest["share_id"].as_str().unwrap()).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["messages"][fit + 1]["content"], long);
    add(fit).await;
    let refused = app
        .call("POST", &format!("/api/chats/{chat_id}/share/"), Some(&token), None)
        .await;
    assert_eq!(assert_error(&refused, 413), "chat_too_large_to_share");
    assert_eq!(refused.body["max_bytes"], MAX_SNAPSHOT_BYTES);
    let listed = app.call("GET", "/api/shares/", Some(&token), None).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing stored");

    // A chat without messages (dialect E's empty thread) shares an empty snapshot.
    let thread = app.call("POST", "/chat/threads/new/", Some(&token), None).await;
    assert_eq!(thread.status, 201, "{}", thread.text);
    let empty = app.call("GET", "/api/chats/?limit=1", Some(&token), None).await.body[0]["chat_id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = share(&app, &token, &empty).await;
    assert_eq!(created["messages"], 0);
    let shown = read(&app, created["share_id"].as_str().unwrap()).await;
    assert_eq!(shown.body["messages"], json!([]));
}

#[tokio::test]
async fn an_account_holds_at_most_100_links() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat_id = chat_with(&app, &token, "hello").await;
    let chat = Uuid::parse_str(&chat_id).unwrap();
    let user = app.state.store.user_by_username("alice").await.unwrap().unwrap();
    // 99 straight into the store (the write rate limit would stop a client first).
    for i in 0..99 {
        let link = chatbot_core::store::ShareLink {
            share_id: format!("{i:0>43}"),
            id: Uuid::now_v7(),
            user_id: user.id,
            chat_id: chat,
            title: None,
            created_at: chrono::Utc::now(),
        };
        assert!(app.state.store.create_share(&link, &[]).await.unwrap());
    }
    share(&app, &token, &chat_id).await;
    let over = app
        .call("POST", &format!("/api/chats/{chat_id}/share/"), Some(&token), None)
        .await;
    assert_eq!(assert_error(&over, 409), "too_many_shares");
}
