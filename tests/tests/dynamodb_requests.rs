//! What each route costs in DynamoDB requests (docs/architecture.md, "Requests per
//! route", lists these numbers), on the local endpoint: an SDK interceptor logs every
//! request the store sends. Each route's DynamoDB actions must also be granted to its
//! function in template.yaml.

use chatbot_tests::dynamodb::{logged_store, RequestLog};
use chatbot_tests::TestApp;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

struct Counted {
    app: TestApp,
    log: RequestLog,
    /// Function → DynamoDB actions its requests used.
    used: BTreeMap<String, BTreeSet<String>>,
}

impl Counted {
    async fn new() -> Self {
        let (store, log) = logged_store().await;
        let app = TestApp::with_store(Arc::new(store), &[], tempfile::tempdir().unwrap());
        Self {
            app,
            log,
            used: BTreeMap::new(),
        }
    }

    /// Sends one request and returns the DynamoDB operations it caused.
    async fn call(
        &mut self,
        function: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (Value, Vec<String>) {
        self.call_keyed(function, method, path, token, None, body).await
    }

    /// The same, with an `Idempotency-Key` when `key` is one.
    async fn call_keyed(
        &mut self,
        function: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (Value, Vec<String>) {
        self.log.take();
        let auth = token.map(|token| format!("Token {token}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        let response = self.app.call_with(method, path, &headers, body).await;
        assert!(
            response.status < 300,
            "{method} {path}: {} {}",
            response.status,
            response.text
        );
        let ops = self.log.take();
        self.used
            .entry(function.to_string())
            .or_default()
            .extend(ops.iter().flat_map(|op| iam_actions(op)));
        (response.body, ops)
    }
}

/// The IAM actions behind a logged operation (a transaction needs its parts').
fn iam_actions(op: &str) -> Vec<String> {
    match op.split_once('(') {
        Some(("TransactWriteItems", parts)) => parts
            .trim_end_matches(')')
            .split(',')
            .map(|part| match part {
                "ConditionCheck" => "dynamodb:ConditionCheckItem".to_string(),
                other => format!("dynamodb:{other}Item"),
            })
            .collect(),
        _ => vec![format!("dynamodb:{op}")],
    }
}

fn names(ops: &[String]) -> Vec<&str> {
    ops.iter().map(|op| op.split('(').next().unwrap()).collect()
}

#[tokio::test]
async fn every_route_costs_a_small_fixed_number_of_requests() {
    let mut c = Counted::new().await;
    let register = json!({"username": "alice", "password": "password123", "email": "alice@example.com"});
    let (body, ops) = c.call("register", "POST", "/api/register/", None, Some(register)).await;
    assert_eq!(
        names(&ops),
        [
            "UpdateItem",
            "GetItem",
            "GetItem",
            "TransactWriteItems",
            "TransactWriteItems"
        ],
        "register: count the hit, check name and email, write user + claims, write token"
    );
    let token = body["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());
    let login = json!({"username": "alice", "password": "password123"});
    let (_, ops) = c.call("login", "POST", "/api/login/", None, Some(login)).await;
    assert_eq!(names(&ops), ["UpdateItem", "GetItem", "GetItem", "TransactWriteItems"]);

    let (_, ops) = c.call("get-me", "GET", "/api/me/", t, None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem"], "authentication: token, then user");
    let (_, ops) = c.call("get-tokens", "GET", "/api/tokens/", t, None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "Query"],
        "authentication, then the user's stale holds (none)"
    );
    let (_, ops) = c.call("list-models", "GET", "/api/models/", t, None).await;
    assert_eq!(ops.len(), 2);
    let (_, ops) = c.call("health", "GET", "/api/health/", None, None).await;
    assert_eq!(names(&ops), ["GetItem"]);
    let (_, ops) = c.call("get-openapi", "GET", "/api/openapi.json", None, None).await;
    assert!(ops.is_empty());
    let zone = json!({"time_zone": "Europe/Paris"});
    let (_, ops) = c.call("update-me", "PATCH", "/api/me/", t, Some(zone)).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "GetItem", "UpdateItem"],
        "auth, the write window's hit, the profile read and updated"
    );
    let email = json!({"email": "alice@new.example"});
    let (_, ops) = c.call("update-me", "PATCH", "/api/me/", t, Some(email)).await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "GetItem",
            "TransactWriteItems"
        ],
        "a new email: is it free, then move the claim with the profile"
    );

    let send = json!({"content": "hello there"});
    let (body, ops) = c.call("send-chat", "POST", "/api/chats/", t, Some(send.clone())).await;
    assert_eq!(
        ops.len(),
        13,
        "the first message of a chat (its number is one of them, and the query of stale holds): {ops:?}"
    );
    let chat_id = body["chat_id"].as_str().unwrap().to_string();
    let (body, ops) = c.call("send-chat", "POST", "/api/chats/", t, Some(send)).await;
    assert_eq!(ops.len(), 11, "a later message: {ops:?}");
    let message_id = body["reply"]["message_id"].as_str().unwrap().to_string();
    let stream = json!({"content": "stream it"});
    let (_, ops) = c
        .call("stream-chat", "POST", "/api/chats/stream/", t, Some(stream))
        .await;
    assert_eq!(
        ops.len(),
        10,
        "a streamed later message (no conversation read back): {ops:?}"
    );
    let completion = json!({"model": "scripted/echo", "messages": [{"role": "user", "content": "hi"}]});
    let (_, ops) = c
        .call("openai-api", "POST", "/v1/chat/completions", t, Some(completion))
        .await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "Query", "TransactWriteItems", "TransactWriteItems"],
        "auth, the rate-limit hit, the stale holds, the charge and its hold, the hold settled with its usage: completions are stateless"
    );
    let (_, ops) = c.call("openai-api", "GET", "/v1/models", t, None).await;
    assert_eq!(ops.len(), 2);

    let (_, ops) = c.call("list-chats", "GET", "/api/chats/", t, None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "Query", "Query"],
        "3 + one per chat listed"
    );
    let (_, ops) = c
        .call("get-chat", "GET", &format!("/api/chats/{chat_id}/"), t, None)
        .await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "GetItem", "Query"]);
    let messages = format!("/api/chats/{chat_id}/messages/");
    let (_, ops) = c.call("list-messages", "GET", &messages, t, None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "GetItem", "Query"]);
    let (_, ops) = c
        .call("list-messages", "GET", &format!("{messages}?limit=1"), t, None)
        .await;
    assert_eq!(ops.len(), 4);
    let paged = c.app.call("GET", &format!("{messages}?limit=1"), t, None).await;
    let next = paged
        .header("link")
        .unwrap()
        .split(['<', '>'])
        .nth(1)
        .unwrap()
        .to_string();
    let (_, ops) = c.call("list-messages", "GET", &next, t, None).await;
    assert_eq!(
        ops.len(),
        4,
        "a next page finds its cursor in the chat's tree, read whole in one query"
    );

    let rename = json!({"title": "Greetings"});
    let chat_path = format!("/api/chats/{chat_id}/");
    let (_, ops) = c.call("update-chat", "PATCH", &chat_path, t, Some(rename)).await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "TransactWriteItems",
            "Query"
        ]
    );
    let edit_path = format!("/api/chats/{chat_id}/messages/{message_id}/");
    let edit = json!({"content": "hello again"});
    let (_, ops) = c.call("edit-message", "PATCH", &edit_path, t, Some(edit)).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "GetItem", "GetItem", "UpdateItem"]
    );
    let edit = json!({"content": "hello, again", "regenerate": true});
    let (_, ops) = c.call("edit-message", "PATCH", &edit_path, t, Some(edit)).await;
    assert_eq!(ops.len(), 12, "edit and answer again: {ops:?}");
    let regenerate = format!("/api/chats/{chat_id}/regenerate/");
    let (_, ops) = c
        .call("regenerate-reply", "POST", &regenerate, t, Some(json!({})))
        .await;
    assert_eq!(ops.len(), 11, "{ops:?}");
    // A new branch beside the first question: the tree read once, the question
    // added with the switch in one transaction.
    let branch = format!("/api/chats/{chat_id}/messages/{message_id}/branches/");
    let (created, ops) = c
        .call(
            "edit-message",
            "POST",
            &branch,
            t,
            Some(json!({"content": "hello, branch"})),
        )
        .await;
    assert_eq!(created["branch"]["index"], 2, "{created}");
    assert_eq!(ops.len(), 10, "a new branch: {ops:?}");
    assert!(
        ops.iter()
            .any(|op| op.starts_with("TransactWriteItems(ConditionCheck,Put,Update")),
        "the question and the switch in one step: {ops:?}"
    );
    let active = format!("/api/chats/{chat_id}/active/");
    let (_, ops) = c
        .call(
            "edit-message",
            "PUT",
            &active,
            t,
            Some(json!({"message_id": message_id})),
        )
        .await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "Query",
            "TransactWriteItems"
        ],
        "a switch: the tree read once, the switch written once"
    );
    let end = json!({"end_session": true});
    let (_, ops) = c.call("send-chat", "POST", "/api/chats/", t, Some(end)).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "Query", "TransactWriteItems"]
    );

    let (_, ops) = c.call("delete-chat", "DELETE", &chat_path, t, None).await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "UpdateItem",
            "Query",
            "BatchWriteItem",
            "TransactWriteItems"
        ],
        "auth, the write window, the chat; marked, its messages, then record, entry and claim together"
    );
    for text in ["one", "two"] {
        let body = json!({"content": text, "chat_id": uuid::Uuid::now_v7().to_string()});
        c.call("send-chat", "POST", "/api/chats/", t, Some(body)).await;
    }
    let (_, ops) = c.call("delete-all-chats", "DELETE", "/api/chats/", t, None).await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "Query",
            "UpdateItem",
            "UpdateItem",
            "Query",
            "Query",
            "BatchWriteItem",
            "BatchWriteItem",
            "BatchWriteItem"
        ],
        "the entries, each chat marked, its items read; messages, records, then entries, in batches of 25"
    );

    let fresh = Counted::new().await;
    let mut c = Counted { used: c.used, ..fresh };
    let root = c.app.register("root").await;
    chatbot_admin::grant(c.app.state.store.as_ref(), "root").await.unwrap();
    c.app.register("bob").await;
    let (_, ops) = c
        .call(
            "deactivate-user",
            "POST",
            "/api/users/bob/deactivate/",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "GetItem",
            "GetItem",
            "UpdateItem",
            "Query"
        ],
        "…the profile's update, then the query for API keys to revoke (none here)"
    );
    let (_, ops) = c
        .call("activate-user", "POST", "/api/users/bob/activate/", Some(&root), None)
        .await;
    assert_eq!(ops.len(), 7);
    let (_, ops) = c.call("logout", "POST", "/api/logout/", Some(&root), None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "DeleteItem", "DeleteItem"]);
    let bob = c.app.register("bob2").await;
    let (_, ops) = c
        .call("logout", "POST", "/api/logout/?all=true", Some(&bob), None)
        .await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "Query", "BatchWriteItem"]);
    let carol = c.app.register("carol").await;
    let (_, ops) = c.call("delete-me", "DELETE", "/api/me/", Some(&carol), None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "Query", "BatchWriteItem"],
        "no chats: the write window, the partition, then one batch"
    );

    assert_within_grants(&c.used);
}

/// An `Idempotency-Key` costs a charging route two writes, the claim and the kept
/// answer; its retry costs authentication, the rate window and the refused claim
/// (which hands back the kept answer), and no model call or charge.
#[tokio::test]
async fn an_idempotency_key_costs_two_writes_and_a_retry_four_requests() {
    let mut c = Counted::new().await;
    let token = c.app.register("kay").await;
    let t = Some(token.as_str());
    // Each to a chat of its own, so both create one.
    let ask = || json!({"content": "hi", "chat_id": uuid::Uuid::now_v7().to_string()});
    let (_, plain) = c.call("send-chat", "POST", "/api/chats/", t, Some(ask())).await;
    let body = ask();
    let (first, keyed) = c
        .call_keyed("send-chat", "POST", "/api/chats/", t, Some("k"), Some(body.clone()))
        .await;
    assert_eq!(keyed.len(), plain.len() + 2, "{plain:?} then {keyed:?}");
    assert_eq!(
        names(&keyed)[3],
        "PutItem",
        "the claim, after auth and the window: {keyed:?}"
    );
    assert_eq!(names(&keyed).last(), Some(&"UpdateItem"), "the answer kept last");
    let (retry, ops) = c
        .call_keyed("send-chat", "POST", "/api/chats/", t, Some("k"), Some(body))
        .await;
    assert_eq!(retry, first);
    let ops = names(&ops);
    // A DynamoDB-compatible server that does not return the holder on a refused
    // put (ReturnValuesOnConditionCheckFailure) costs one GetItem more.
    assert!(
        ops == ["GetItem", "GetItem", "UpdateItem", "PutItem"]
            || ops == ["GetItem", "GetItem", "UpdateItem", "PutItem", "GetItem"],
        "{ops:?}"
    );
    assert_within_grants(&c.used);
}

/// A usage report is two queries (the buckets, the keys' names); the admins' view
/// is a scan and one read per user listed.
#[tokio::test]
async fn usage_reports_cost_two_queries_and_the_admins_view_a_scan() {
    let mut c = Counted::new().await;
    let token = c.app.register("uma").await;
    c.app.chat(&token, "hello").await;
    let (report, ops) = c.call("get-usage", "GET", "/api/usage/", Some(&token), None).await;
    assert_eq!(report["total"]["requests"], 1);
    assert_eq!(names(&ops), ["GetItem", "GetItem", "Query", "Query"]);
    let root = c.app.register("root").await;
    chatbot_admin::grant(c.app.state.store.as_ref(), "root").await.unwrap();
    let (view, ops) = c
        .call("admin-usage", "GET", "/api/admin/usage/", Some(&root), None)
        .await;
    assert_eq!(view["users"][0]["username"], "uma");
    assert_eq!(names(&ops), ["GetItem", "GetItem", "Scan", "GetItem"]);
    assert_within_grants(&c.used);
}

/// An import is the chat number, the chat's transaction and one batch per 25
/// messages per chat; an export page is a query of chats and one of each tree.
#[tokio::test]
async fn export_and_import_cost_a_few_requests_within_their_functions_grants() {
    let mut c = Counted::new().await;
    let token = c.app.register("ida").await;
    let t = Some(token.as_str());
    let messages: Vec<_> = (0..30)
        .map(|n| {
            json!({"id": format!("m{n}"), "parent_id": if n == 0 { Value::Null } else { json!(format!("m{}", n - 1)) },
                        "role": if n % 2 == 0 { "user" } else { "assistant" }, "content": format!("text {n}")})
        })
        .collect();
    let document = json!({"format": "chatbot-export", "version": 1, "chats": [{"title": "t", "messages": messages}]});
    let (imported, ops) = c.call("import-chats", "POST", "/api/import/", t, Some(document)).await;
    assert_eq!(imported["imported"], 1, "{imported}");
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "UpdateItem",
            "TransactWriteItems",
            "BatchWriteItem",
            "BatchWriteItem"
        ],
        "auth, the write window, the number, the chat, 30 messages in 2 batches"
    );
    let (exported, ops) = c.call("export-chats", "GET", "/api/export/", t, None).await;
    assert_eq!(exported["chats"][0]["messages"].as_array().unwrap().len(), 30);
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "Query", "Query"],
        "auth, the page of chats, each chat's tree"
    );
    assert_within_grants(&c.used);
}

/// Personal API keys: creating one is a count and a transaction, authenticating
/// with one is three requests like a token's two plus the counters' update, and
/// revoking is a read and a transaction.
#[tokio::test]
async fn api_keys_cost_a_few_requests_within_their_functions_grants() {
    let mut c = Counted::new().await;
    let token = c.app.register("kay").await;
    let t = Some(token.as_str());
    let (created, ops) = c
        .call("api-keys", "POST", "/api/keys/", t, Some(json!({"name": "ci"})))
        .await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "Query", "TransactWriteItems"],
        "auth, the write window, the count, the key and its entry"
    );
    let (_, ops) = c.call("api-keys", "GET", "/api/keys/", t, None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "Query"]);
    let key = created["key"].as_str().unwrap();
    let (_, ops) = c.call("openai-api", "GET", "/v1/models", Some(key), None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "UpdateItem", "GetItem"],
        "lookup, counters, owner"
    );
    let revoke = format!("/api/keys/{}/", created["key_id"].as_str().unwrap());
    let (_, ops) = c.call("api-keys", "DELETE", &revoke, t, None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "GetItem", "TransactWriteItems"]
    );
    assert_within_grants(&c.used);
}

/// Share links: sharing reads the chat and its messages and writes the link's
/// three items in one transaction (with the chat's check); the public read is
/// two GetItems (the snapshot, its owner) and nothing else; revoking is a read and
/// a transaction; deleting the chat takes its links in its batches.
#[tokio::test]
async fn share_links_cost_a_few_requests_within_their_functions_grants() {
    let mut c = Counted::new().await;
    let token = c.app.register("sam").await;
    let t = Some(token.as_str());
    let chat = c.app.chat(&token, "hello").await["chat_id"]
        .as_str()
        .unwrap()
        .to_string();
    let share = format!("/api/chats/{chat}/share/");
    let (created, ops) = c.call("shares", "POST", &share, t, None).await;
    assert_eq!(
        names(&ops),
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "Query",
            "Query",
            "TransactWriteItems"
        ],
        "auth, the write window, the chat, the links' count, the messages, the link"
    );
    assert_eq!(ops.last().unwrap(), "TransactWriteItems(ConditionCheck,Put,Put,Put)");
    let id = created["share_id"].as_str().unwrap();
    let (_, ops) = c
        .call("get-shared", "GET", &format!("/api/shared/{id}/"), None, None)
        .await;
    assert_eq!(names(&ops), ["GetItem", "GetItem"], "the snapshot, its owner");
    let (_, ops) = c.call("shares", "GET", "/api/shares/", t, None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "Query"]);
    let (_, ops) = c.call("shares", "DELETE", &format!("/api/shares/{id}/"), t, None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "GetItem", "TransactWriteItems"]
    );
    c.call("shares", "POST", &share, t, None).await;
    let (_, ops) = c
        .call("delete-chat", "DELETE", &format!("/api/chats/{chat}/"), t, None)
        .await;
    assert!(names(&ops).contains(&"BatchWriteItem"), "{ops:?}");
    assert_within_grants(&c.used);
}

/// The dialect routes (API.md §4): each on its operation's function, whose policy
/// must cover what it does.
#[tokio::test]
async fn dialect_routes_stay_within_their_functions_grants() {
    let mut c = Counted::new().await;
    let token = c.app.register("gem").await;
    let t = Some(token.as_str());
    let (_, ops) = c
        .call("create-chat", "POST", "/api/conversations/create/", t, None)
        .await;
    assert_eq!(
        ops.len(),
        5,
        "auth, the write window, the number, the chat transaction: {ops:?}"
    );
    let first = json!({"conversation_id": 1, "message": "hello"});
    let (_, ops) = c.call("send-chat", "POST", "/api/chat/", t, Some(first)).await;
    let b_first = ops.len();
    let next = json!({"message": "again"});
    let (_, ops) = c.call("send-chat", "POST", "/api/chat/", t, Some(next)).await;
    let c_next = ops.len();
    let (_, ops) = c.call("list-chats", "GET", "/api/conversations/", t, None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "Query"],
        "no conversation read per chat"
    );
    let messages = "/api/conversations/1/messages/";
    let (_, ops) = c.call("list-messages", "GET", messages, t, None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem", "GetItem", "GetItem", "Query"]);
    let rename = json!({"title": "Named"});
    let (_, ops) = c
        .call("update-chat", "PATCH", "/api/conversations/1/rename/", t, Some(rename))
        .await;
    let b_rename = ops.len();
    let regenerate = json!({"conversation_id": 1});
    let (_, ops) = c
        .call("regenerate-reply", "POST", "/api/chat/regenerate/", t, Some(regenerate))
        .await;
    let b_regenerate = ops.len();
    c.app = c
        .app
        .with_provider(Arc::new(chatbot_tests::ScriptedAs::new("openai", "gpt-4o-mini")));
    let chat_id = uuid::Uuid::now_v7();
    let prompt = json!({"chat_id": chat_id.to_string(), "content": "hi"});
    let (_, ops) = c.call("send-chat", "POST", "/prompt_gpt/", t, Some(prompt)).await;
    let d_prompt = ops.len();
    let (_, ops) = c
        .call(
            "list-messages",
            "GET",
            &format!("/get_chat_messages/{chat_id}/"),
            t,
            None,
        )
        .await;
    assert_eq!(ops.len(), 4);
    let (_, ops) = c.call("list-chats", "GET", "/todays_chat/", t, None).await;
    let d_today = ops.len();
    let (_, ops) = c
        .call("delete-chat", "DELETE", "/api/conversations/1/delete/", t, None)
        .await;
    let b_delete = ops.len();
    assert_eq!(
        [b_first, c_next, b_rename, b_regenerate, d_prompt, d_today, b_delete],
        [14, 11, 6, 12, 12, 5, 9],
        "B's first message (the number: 2 reads), C's next one, rename, regenerate, D's prompt to a new chat, a day list of 2, delete"
    );

    assert_within_grants(&c.used);
}

/// Dialect E's routes run on the functions the table gives them; each needs no
/// more than that function is granted.
#[tokio::test]
async fn dialect_e_routes_need_only_their_functions_grants() {
    let mut c = Counted::new().await;
    let register = json!({"username": "erin", "email": "erin@example.com", "password": "password123"});
    c.call("register", "POST", "/auth/register/", None, Some(register))
        .await;
    let login = json!({"username": "erin", "password": "password123"});
    let (body, _) = c.call("login", "POST", "/auth/login/", None, Some(login)).await;
    let token = body["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());
    let (_, ops) = c.call("get-me", "GET", "/auth/status/", t, None).await;
    assert_eq!(names(&ops), ["GetItem", "GetItem"], "authentication only");
    let (_, ops) = c.call("create-chat", "POST", "/chat/threads/new/", t, None).await;
    assert_eq!(
        names(&ops),
        ["GetItem", "GetItem", "UpdateItem", "UpdateItem", "TransactWriteItems"],
        "auth (token, user), the write window, the number, the chat with its number claim"
    );
    let message = json!({"message": "hello"});
    c.call("send-chat", "POST", "/chat/response/1/", t, Some(message.clone()))
        .await;
    c.call("stream-chat", "POST", "/chat/streaming-response/1/", t, Some(message))
        .await;
    c.call("list-chats", "GET", "/chat/threads/", t, None).await;
    c.call("list-messages", "GET", "/chat/threads/1/messages/", t, None)
        .await;
    let title = json!({"title": "Renamed"});
    c.call("update-chat", "PUT", "/chat/threads/1/update-title/", t, Some(title))
        .await;
    c.call("delete-chat", "DELETE", "/chat/threads/1/delete/", t, None)
        .await;
    c.call("create-chat", "POST", "/chat/threads/new/", t, None).await;
    c.call("delete-chat", "POST", "/chat/threads/2/delete/", t, None).await;
    c.call("create-chat", "POST", "/chat/threads/new/", t, None).await;
    c.call("delete-all-chats", "DELETE", "/chat/threads/delete/", t, None)
        .await;
    let root = c.app.register("root").await;
    chatbot_admin::grant(c.app.state.store.as_ref(), "root").await.unwrap();
    c.call("deactivate-user", "POST", "/auth/deactivate/erin/", Some(&root), None)
        .await;
    c.call("logout", "POST", "/auth/logout/", Some(&root), None).await;
    let dana = c.app.register("dana").await;
    c.call("delete-me", "DELETE", "/auth/delete/", Some(&dana), None).await;

    assert_within_grants(&c.used);
}

/// The operator command runs with the operator's credentials, not a function's
/// role, so no policy in the template grants it anything: docs/operations.md ("Admins")
/// lists what it needs, DescribeTable (opening) and these.
#[tokio::test]
async fn the_operator_command_reads_and_updates_profiles_and_scans_to_list() {
    let c = Counted::new().await;
    c.app.register("root").await;
    let store = c.app.state.store.as_ref();
    c.log.take();
    chatbot_admin::grant(store, "root").await.unwrap();
    assert_eq!(
        names(&c.log.take()),
        ["GetItem", "GetItem", "GetItem", "UpdateItem", "GetItem"],
        "the name's claim and profile, the update's read and write, the read back"
    );
    assert_eq!(store.admins().await.unwrap().len(), 1);
    assert_eq!(names(&c.log.take()), ["Scan"]);
    chatbot_admin::revoke(store, "root").await.unwrap();
    chatbot_admin::revoke(store, "root").await.unwrap();
    assert_eq!(
        names(&c.log.take()),
        [
            "GetItem",
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "GetItem",
            "GetItem"
        ],
        "a revoke like a grant, then one that finds nothing to change and writes nothing"
    );
}

/// Function binary → the DynamoDB actions its policies grant.
/// Each function used no DynamoDB action its IAM policy in the template lacks.
fn assert_within_grants(used: &BTreeMap<String, BTreeSet<String>>) {
    let granted = granted_actions();
    for (function, actions) in used {
        let allowed = granted.get(function).cloned().unwrap_or_default();
        let missing: Vec<_> = actions.difference(&allowed).collect();
        assert!(missing.is_empty(), "{function} uses {missing:?} without the permission");
    }
}

fn granted_actions() -> BTreeMap<String, BTreeSet<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let template = serde_json::to_value(template).unwrap();
    let mut granted = BTreeMap::new();
    for resource in template["Resources"].as_object().unwrap().values() {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let actions: BTreeSet<String> = resource["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        granted.insert(binary.to_string(), actions);
    }
    granted
}

#[tokio::test]
async fn a_name_or_address_over_any_limit_is_never_looked_up() {
    // DynamoDB refuses a key over 2 KB with an error (moto does not check): such a
    // login must not reach the table beyond its rate-limit counter.
    let c = Counted::new().await;
    let long = "a".repeat(3000);
    for body in [
        json!({"username": long, "password": "password123"}),
        json!({"email": format!("{long}@example.com"), "password": "password123"}),
    ] {
        c.log.take();
        let response = c.app.call("POST", "/api/login/", None, Some(body)).await;
        assert_eq!(response.status, 401, "{}", response.text);
        assert_eq!(names(&c.log.take()), ["UpdateItem"], "only the rate-limit counter");
    }
}
