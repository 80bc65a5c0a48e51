//! Export and import end to end (API.md §7): a round trip between two users keeps
//! titles, roles, texts and the tree; ChatGPT's export is read with its branches;
//! bad documents are refused naming where, and nothing is stored or charged.

use chatbot_tests::{assert_error, TestApp, TestResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

async fn import(app: &TestApp, token: &str, document: &Value) -> TestResponse {
    app.call("POST", "/api/import/", Some(token), Some(document.clone()))
        .await
}

async fn export_all(app: &TestApp, token: &str) -> Vec<Value> {
    let mut chats = Vec::new();
    let mut path = "/api/export/?limit=1".to_string();
    loop {
        let page = app.call("GET", &path, Some(token), None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(
            (page.body["format"].as_str(), page.body["version"].as_i64()),
            (Some("chatbot-export"), Some(1))
        );
        chats.extend(page.body["chats"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/export/?limit=1&cursor={cursor}"),
            None => return chats,
        }
    }
}

/// A message as ids cannot tell: role, text, parent (by its place in the list),
/// and whether it is on the active branch.
type Shaped = (String, String, Option<usize>, bool);

/// A chat as ids cannot tell: its title and its messages' shapes.
fn shape(chat: &Value) -> (Value, Vec<Shaped>) {
    let messages = chat["messages"].as_array().unwrap();
    let place: HashMap<&str, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m["id"].as_str().unwrap(), i))
        .collect();
    let shaped = messages
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
                m["parent_id"].as_str().map(|p| place[p]),
                m["active"].as_bool().unwrap(),
            )
        })
        .collect();
    (chat["title"].clone(), shaped)
}

/// A body as bytes of any media type.
async fn raw(app: &TestApp, token: &str, content_type: &str, body: String) -> TestResponse {
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Token {token}")),
        ("content-type".to_string(), content_type.to_string()),
    ]);
    app.send("POST", "/api/import/", headers, Some(body), "127.0.0.1").await
}

async fn balance(app: &TestApp, token: &str) -> Value {
    app.call("GET", "/api/tokens/", Some(token), None).await.body
}

#[tokio::test]
async fn an_export_imported_by_another_user_gives_the_same_chats_and_costs_nothing() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    // A chat with a regenerated reply and a question edited as a branch, and a second chat.
    let first = app.chat(&alice, "q1").await;
    let chat_id = first["chat_id"].as_str().unwrap().to_string();
    app.chat(&alice, "q2").await;
    app.call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&alice), None)
        .await;
    let q1 = first["reply"]["message_id"].as_str().unwrap();
    let branched = app
        .call(
            "POST",
            &format!("/api/chats/{chat_id}/messages/{q1}/branches/"),
            Some(&alice),
            Some(json!({"content": "q1 again"})),
        )
        .await;
    assert_eq!(branched.status, 201, "{}", branched.text);
    app.end_session(&alice).await;
    app.chat(&alice, "another chat").await;

    let exported = export_all(&app, &alice).await;
    assert_eq!(exported.len(), 2, "paged one chat at a time");
    let document = json!({"format": "chatbot-export", "version": 1, "chats": exported});
    let bob = app.register("bob").await;
    let before = balance(&app, &bob).await;
    let imported = import(&app, &bob, &document).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    assert_eq!(imported.body["imported"], 2);
    assert_eq!(balance(&app, &bob).await, before, "nothing charged");

    let again = export_all(&app, &bob).await;
    let shapes = |chats: &[Value]| chats.iter().map(shape).collect::<Vec<_>>();
    assert_eq!(shapes(&again), shapes(&exported));
    // New ids, and the tree's active branch is the one listed.
    let ids: Vec<&str> = imported.body["chat_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(!ids.contains(&chat_id.as_str()));
    // Chats are exported newest first: the branched chat is the second.
    let listed = app
        .call("GET", &format!("/api/chats/{}/messages/", ids[1]), Some(&bob), None)
        .await;
    let active: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["q1 again", "reply to: q1 again"]);
    // An imported chat is ended: a send without chat_id starts a new one.
    let sent = app
        .call("POST", "/api/chats/", Some(&bob), Some(json!({"content": "fresh"})))
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert!(!ids.contains(&sent.body["chat_id"].as_str().unwrap()));
}

fn chatgpt() -> Value {
    json!([{
        "title": "Packing",
        "create_time": 1_700_000_000.0,
        "current_node": "a1",
        "mapping": {
            "root": {"id": "root", "message": null, "parent": null, "children": ["u1"]},
            "u1": {"id": "u1", "parent": "root", "children": ["a1", "a2"],
                   "message": {"author": {"role": "user"}, "create_time": 1_700_000_001.0,
                               "content": {"content_type": "text", "parts": ["What should I pack?"]}}},
            "a1": {"id": "a1", "parent": "u1", "children": [],
                   "message": {"author": {"role": "assistant"}, "create_time": 1_700_000_002.0,
                               "content": {"content_type": "text", "parts": ["Boots."]},
                               "metadata": {"model_slug": "gpt-4o"}}},
            "a2": {"id": "a2", "parent": "u1", "children": [],
                   "message": {"author": {"role": "assistant"}, "create_time": 1_700_000_003.0,
                               "content": {"content_type": "text", "parts": ["A map."]}}}
        }
    }])
}

#[tokio::test]
async fn a_chatgpt_export_is_imported_with_its_branches() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let imported = import(&app, &token, &chatgpt()).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    let chat_id = imported.body["chat_ids"][0].as_str().unwrap();
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    assert_eq!(chat.body["title"], "Packing");
    assert!(chat.body["created_at"]
        .as_str()
        .unwrap()
        .starts_with("2023-11-14T22:13:20"));
    let listed = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    let listed = listed.body.as_array().unwrap();
    let active: Vec<&str> = listed.iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(active, ["What should I pack?", "Boots."], "current_node's branch");
    assert_eq!(listed[1]["branch"], json!({"index": 1, "count": 2}));
    assert_eq!(listed[1]["model"], "gpt-4o");
    assert_eq!(listed[1]["provider"], "chatgpt");
    assert_eq!(listed[1]["reply_to"], listed[0]["message_id"]);
    // The imported chat goes on like any other.
    let regenerated = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&token), None)
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text);
    assert_eq!(regenerated.body["versions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_documents_are_refused_naming_where_and_store_nothing() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let cases = [
        (json!({"format": "other", "version": 1, "chats": []}), "format"),
        (
            json!({"format": "chatbot-export", "version": 1, "chats": [
                {"title": "ok", "messages": [{"id": "a", "role": "user", "content": "fine"}]},
                {"title": "bad", "messages": [{"id": "a", "role": "user", "content": "x"}, {"id": "b", "role": "bot", "content": "x"}]}
            ]}),
            "chats[1].messages[1].role",
        ),
        (
            json!({"format": "chatbot-export", "version": 1, "chats": [
                {"messages": [{"id": "a", "parent_id": "nope", "role": "user", "content": "x"}]}
            ]}),
            "chats[0].messages[0].parent_id",
        ),
        (
            json!([{"title": "t", "mapping": {"a": {"parent": "b"}, "b": {"parent": "a"}}}]),
            "[0].mapping",
        ),
        (json!([{"title": "t"}]), "[0].mapping"),
        (json!(42), "$"),
    ];
    for (document, at) in cases {
        let refused = import(&app, &token, &document).await;
        assert_eq!(assert_error(&refused, 400), "invalid_field", "{document}");
        assert_eq!(refused.body["field"], at, "{}", refused.text);
        assert!(
            refused.body["error"].as_str().unwrap().starts_with(at),
            "{}",
            refused.text
        );
    }
    let broken = raw(&app, &token, "application/json", "[{\"title\": ".into()).await;
    assert_eq!(assert_error(&broken, 400), "invalid_json");
    let text = raw(&app, &token, "text/plain", "[]".into()).await;
    assert_error(&text, 415);
    // Over 5 MiB: 413, to be imported in several calls.
    let big = format!("[\"{}\"]", "x".repeat(5 * 1024 * 1024));
    let over = raw(&app, &token, "application/json", big).await;
    assert_eq!(assert_error(&over, 413), "body_too_large");
    // A document of 70 KiB (over the 64 KiB of other routes) is fine.
    let long = "y".repeat(70 * 1024);
    let document = json!({"format": "chatbot-export", "version": 1, "chats": [
        {"title": "long", "messages": [{"id": "a", "role": "user", "content": long}]}
    ]});
    assert_eq!(import(&app, &token, &document).await.status, 201);
    let chats = app.call("GET", "/api/chats/", Some(&token), None).await;
    assert_eq!(chats.body.as_array().unwrap().len(), 1, "only the good document's chat");
    // Another user's export needs a token.
    assert_error(&app.call("GET", "/api/export/", None, None).await, 401);
    assert_error(&import(&app, "not-a-token", &chatgpt()).await, 401);
}
