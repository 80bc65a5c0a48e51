//! Pages end to end: cursors are signed and bound to the caller and the list, and
//! every body that carries message text stays within a Lambda response (6 MB) by
//! ending its page early or cutting a conversation, never by losing a record.

use chatbot_core::store::{Message, Role};
use chatbot_tests::{assert_error, TestApp, TestResponse};
use chrono::{Duration, Utc};
use uuid::Uuid;

/// Lambda refuses a response body over 6 MB (6 291 556 bytes with its envelope).
const LAMBDA_LIMIT: usize = 6_000_000;

fn cursor_of(url: &str) -> String {
    url.split("cursor=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string()
}

/// Changes one character of a cursor, keeping it valid base64url.
fn tampered(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn chat_id(app: &TestApp, token: &str, content: &str) -> String {
    app.chat(token, content).await["chat_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_cursor_works_only_for_its_user_and_its_list() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut chats = Vec::new();
    for n in 0..3 {
        chats.push(chat_id(&app, &alice, &format!("hello {n}")).await);
        app.end_session(&alice).await;
    }
    app.chat(&bob, "bob's own").await;
    let first = app.call("GET", "/api/chats/?limit=1", Some(&alice), None).await;
    let chats_next = first.next_url().expect("a next page").to_string();
    let chats_cursor = cursor_of(&chats_next);
    assert_eq!(app.call("GET", &chats_next, Some(&alice), None).await.status, 200);

    let messages = format!("/api/chats/{}/messages/", chats[0]);
    let first = app
        .call("GET", &format!("{messages}?limit=1"), Some(&alice), None)
        .await;
    let messages_cursor = cursor_of(first.next_url().expect("a next page"));
    let ok = app
        .call(
            "GET",
            &format!("{messages}?cursor={messages_cursor}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        ok.body.as_array().unwrap().len(),
        1,
        "the reply after the first message"
    );

    let refused = [
        // Another user presents alice's cursor on their own list.
        (format!("/api/chats/?cursor={chats_cursor}"), &bob),
        // A chats cursor on a messages list, and the other way round.
        (format!("{messages}?cursor={chats_cursor}"), &alice),
        (format!("/api/chats/?cursor={messages_cursor}"), &alice),
        // A messages cursor of one chat on another chat of the same user.
        (
            format!("/api/chats/{}/messages/?cursor={messages_cursor}", chats[1]),
            &alice,
        ),
        // Dialect B and E list the same chats, with the same cursors; bob's is refused.
        (format!("/api/conversations/?cursor={chats_cursor}"), &bob),
        (format!("/chat/threads/?cursor={chats_cursor}"), &bob),
        // Altered by one character, or the id alone (unsigned).
        (format!("/api/chats/?cursor={}", tampered(&chats_cursor)), &alice),
        (format!("/api/chats/?cursor={}", &chats_cursor[..22]), &alice),
    ];
    for (path, token) in refused {
        let response = app.call("GET", &path, Some(token), None).await;
        assert_error(&response, 400);
        assert_eq!(response.body["field"], "cursor", "{path}");
    }
    // The chats cursor is valid in dialect B's list of the same user.
    let b = app
        .call(
            "GET",
            &format!("/api/conversations/?cursor={chats_cursor}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
}

/// Stores `count` messages of 16 000 control characters each (six bytes apiece in
/// JSON: about 96 KB a message) in a new chat of the user, user and reply alternating.
async fn huge_chat(app: &TestApp, token: &str, count: usize) -> (String, Vec<Uuid>) {
    let chat_id = chat_id(app, token, "start").await;
    // Ended, so the next message starts another chat.
    app.end_session(token).await;
    let chat = Uuid::parse_str(&chat_id).unwrap();
    let start = Utc::now();
    let mut ids = Vec::new();
    let mut question = None;
    for n in 0..count {
        let role = if n % 2 == 0 { Role::User } else { Role::Assistant };
        let message = Message {
            id: Uuid::now_v7(),
            chat_id: chat,
            role,
            content: format!("{n:04}{}", "\u{1}".repeat(15_996)),
            created_at: start + Duration::milliseconds(n as i64 + 1),
            edited_at: None,
            provider: None,
            model: None,
            reply_to: if role == Role::Assistant { question } else { None },
            superseded: false,
            partial: false,
            reply_version: 0,
            parent_id: None,
        };
        if role == Role::User {
            question = Some(message.id);
        }
        app.state.store.add_message(&message).await.unwrap();
        ids.push(message.id);
    }
    (chat_id, ids)
}

fn message_ids(response: &TestResponse) -> Vec<String> {
    response
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn message_pages_end_early_rather_than_outgrow_a_lambda_response() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = huge_chat(&app, &token, 100).await;
    let mut url = format!("/api/chats/{chat_id}/messages/?limit=100");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = app.call("GET", &url, Some(&token), None).await;
        assert_eq!(page.status, 200, "{}", &page.text[..page.text.len().min(200)]);
        assert!(page.text.len() < LAMBDA_LIMIT, "a page of {} bytes", page.text.len());
        seen.extend(message_ids(&page));
        pages += 1;
        match page.next_url().map(String::from) {
            Some(next) => url = next,
            None => break,
        }
    }
    // "start" and its reply, then the 100: each exactly once, in order, over pages
    // that each held fewer than the 100 asked for.
    let expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    assert_eq!(seen.len(), 102);
    assert_eq!(seen[2..], expected[..]);
    assert!(pages >= 2, "9.6 MB of messages came in {pages} page(s)");
}

#[tokio::test]
async fn a_long_conversation_is_cut_and_marked_and_lists_page_around_it() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let small = chat_id(&app, &token, "small chat").await;
    app.end_session(&token).await;
    // Two big chats, newer than the small one.
    let (older_big, _) = huge_chat(&app, &token, 100).await;
    let (big, _) = huge_chat(&app, &token, 100).await;

    let one = app.call("GET", &format!("/api/chats/{big}/"), Some(&token), None).await;
    assert_eq!(one.status, 200);
    assert!(one.text.len() < LAMBDA_LIMIT, "{} bytes", one.text.len());
    assert_eq!(one.body["conversation_truncated"], true);
    let turns = one.body["conversation"].as_array().unwrap();
    assert!(turns.len() > 10 && turns.len() < 51, "{} turns", turns.len());
    // A chat that fits has no such field.
    let whole = app
        .call("GET", &format!("/api/chats/{small}/"), Some(&token), None)
        .await;
    assert_eq!(whole.body.get("conversation_truncated"), None);

    // The newest big chat fills the first page (cut); the other starts the next one.
    let ids = |r: &TestResponse| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["chat_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut page = app.call("GET", "/api/chats/", Some(&token), None).await;
    assert!(page.text.len() < LAMBDA_LIMIT, "{} bytes", page.text.len());
    let mut pages = vec![ids(&page)];
    while let Some(next) = page.next_url().map(String::from) {
        page = app.call("GET", &next, Some(&token), None).await;
        assert!(page.text.len() < LAMBDA_LIMIT, "{} bytes", page.text.len());
        pages.push(ids(&page));
    }
    assert_eq!(pages[0].len(), 1);
    assert_eq!(pages[0][0], big);
    assert_eq!(pages[1][0], older_big);
    let seen: Vec<String> = pages.concat();
    assert_eq!(seen, [big, older_big, small], "every chat once, newest first");
}

#[tokio::test]
async fn dialect_message_lists_keep_the_newest_that_fit() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    huge_chat(&app, &token, 100).await;
    // Chat number 1 is the huge one (its first message was "start").
    for path in ["/api/conversations/1/messages/", "/chat/threads/1/messages/"] {
        let response = app.call("GET", path, Some(&token), None).await;
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response.text.len() < LAMBDA_LIMIT,
            "{path}: {} bytes",
            response.text.len()
        );
        let messages = response.body["messages"].as_array().unwrap();
        assert!(
            messages.len() > 10 && messages.len() < 100,
            "{path}: {}",
            messages.len()
        );
        // The newest message is last, as in the whole list.
        let last = messages.last().unwrap()["content"].as_str().unwrap();
        assert!(last.starts_with("0099"), "{path}");
    }
}
