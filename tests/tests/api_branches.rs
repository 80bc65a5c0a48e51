//! Branches end to end (API.md §7): a question edited as a new branch, the active
//! branch switched and listed, the model's context, and what every surface sees.

use chatbot_core::llm::ProviderError;
use chatbot_tests::{assert_error, Behaviour, TestApp};
use serde_json::{json, Value};

/// A chat of three exchanges; answers the chat id and the messages' ids in order
/// (q1, a1, q2, a2, q3, a3).
async fn three_exchanges(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let mut chat_id = String::new();
    for content in ["q1", "q2", "q3"] {
        chat_id = app.chat(token, content).await["chat_id"].as_str().unwrap().to_string();
    }
    let listed = messages(app, token, &chat_id, "").await;
    let ids = listed
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    (chat_id, ids)
}

async fn messages(app: &TestApp, token: &str, chat_id: &str, query: &str) -> Vec<Value> {
    let listed = app
        .call(
            "GET",
            &format!("/api/chats/{chat_id}/messages/{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    listed.body.as_array().unwrap().clone()
}

fn contents(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["content"].as_str().unwrap()).collect()
}

async fn branch(
    app: &TestApp,
    token: &str,
    chat_id: &str,
    message_id: &str,
    content: &str,
) -> chatbot_tests::TestResponse {
    app.call(
        "POST",
        &format!("/api/chats/{chat_id}/messages/{message_id}/branches/"),
        Some(token),
        Some(json!({ "content": content })),
    )
    .await
}

async fn activate(app: &TestApp, token: &str, chat_id: &str, message_id: &str) -> chatbot_tests::TestResponse {
    app.call(
        "PUT",
        &format!("/api/chats/{chat_id}/active/"),
        Some(token),
        Some(json!({ "message_id": message_id })),
    )
    .await
}

#[tokio::test]
async fn a_new_branch_is_answered_charged_and_made_active_keeping_the_old_one() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    let created = branch(&app, &token, &chat_id, &ids[2], "q2 again").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["chat_id"], chat_id.as_str());
    assert_eq!(created.body["parent_id"], ids[1].as_str());
    assert_eq!(created.body["branch"], json!({"index": 2, "count": 2}));
    assert_eq!(created.body["reply"]["content"], "reply to: q2 again");
    assert_eq!(created.body["reply"]["role"], "assistant");
    assert!(created.body["reply"]["usage"]["completion_tokens"].is_u64());
    // Charged like a send: four requests of 100.
    assert_eq!(created.body["tokens_remaining"], 3600);
    // The model saw the branch's path only: q1, a1 and the new question.
    let seen = app.provider.reply_requests().pop().unwrap();
    let seen: Vec<&str> = seen.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(seen, ["q1", "reply to: q1", "q2 again"]);

    let new_id = created.body["message_id"].as_str().unwrap();
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(
        contents(&active),
        ["q1", "reply to: q1", "q2 again", "reply to: q2 again"]
    );
    assert_eq!(active[0]["parent_id"], Value::Null);
    assert_eq!(active[2]["parent_id"], ids[1].as_str());
    assert_eq!(active[2]["branch"], json!({"index": 2, "count": 2}));
    assert_eq!(active[2]["sibling_ids"], json!([ids[2], new_id]));
    assert_eq!(active[3]["parent_id"], new_id);
    assert!(active.iter().all(|m| m["active"] == true));
    // The whole tree: the old branch is kept as it was, off the active branch.
    let all = messages(&app, &token, &chat_id, "?branch=all").await;
    assert_eq!(
        contents(&all),
        [
            "q1",
            "reply to: q1",
            "q2",
            "reply to: q2",
            "q3",
            "reply to: q3",
            "q2 again",
            "reply to: q2 again"
        ]
    );
    let inactive: Vec<&str> = all
        .iter()
        .filter(|m| m["active"] == false)
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(inactive, ["q2", "reply to: q2", "q3", "reply to: q3"]);
    assert_eq!(all[2]["branch"], json!({"index": 1, "count": 2}));
    // The chat view (dialect A's conversation) shows the active branch.
    let chat = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await;
    let you: Vec<&str> = chat.body["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["You"].as_str().unwrap())
        .collect();
    assert_eq!(you, ["q1", "q2 again"]);
    // The next message continues the active branch, and the model sees it.
    app.chat(&token, "q4").await;
    let seen = app.provider.reply_requests().pop().unwrap();
    let seen: Vec<&str> = seen.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(seen, ["q1", "reply to: q1", "q2 again", "reply to: q2 again", "q4"]);
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(active[4]["parent_id"], active[3]["message_id"]);
}

#[tokio::test]
async fn switching_branches_restores_a_whole_path_and_the_model_follows_it() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    let created = branch(&app, &token, &chat_id, &ids[2], "q2 again").await;
    let new_id = created.body["message_id"].as_str().unwrap().to_string();
    // Back to the first branch: it ends at its newest message, a3.
    let back = activate(&app, &token, &chat_id, &ids[2]).await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.body["leaf_id"], ids[5].as_str());
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(
        contents(&active),
        ["q1", "reply to: q1", "q2", "reply to: q2", "q3", "reply to: q3"]
    );
    assert_eq!(active[2]["branch"], json!({"index": 1, "count": 2}));
    app.chat(&token, "q4").await;
    let seen = app.provider.reply_requests().pop().unwrap();
    assert_eq!(seen.turns.len(), 7, "the whole first branch and the new question");
    // Switching to what is active already changes nothing.
    let again = activate(&app, &token, &chat_id, &ids[0]).await;
    assert_eq!(again.status, 200);
    assert_eq!(messages(&app, &token, &chat_id, "").await.len(), 8);
    // And to the new branch again.
    let there = activate(&app, &token, &chat_id, &new_id).await;
    assert_eq!(there.status, 200);
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(
        contents(&active),
        ["q1", "reply to: q1", "q2 again", "reply to: q2 again"]
    );
    // Pages of the active branch follow one another.
    let first = app
        .call(
            "GET",
            &format!("/api/chats/{chat_id}/messages/?limit=3"),
            Some(&token),
            None,
        )
        .await;
    let rest = app.call("GET", first.next_url().unwrap(), Some(&token), None).await;
    assert_eq!(contents(rest.body.as_array().unwrap()), ["reply to: q2 again"]);
}

#[tokio::test]
async fn a_branch_of_the_first_question_starts_a_new_root() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    let created = branch(&app, &token, &chat_id, &ids[0], "q1 again").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["parent_id"], Value::Null);
    let seen = app.provider.reply_requests().pop().unwrap();
    assert_eq!(seen.turns.len(), 1);
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(contents(&active), ["q1 again", "reply to: q1 again"]);
    assert_eq!(active[0]["sibling_ids"], json!([ids[0], created.body["message_id"]]));
}

#[tokio::test]
async fn answering_an_earlier_question_again_keeps_the_conversation_after_it() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    let edited = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat_id}/messages/{}/", ids[0]),
            Some(&token),
            Some(json!({"content": "q1 better", "regenerate": true})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let new_reply = edited.body["reply"]["message_id"].as_str().unwrap();
    // In the path's order: the new reply where the old one was, the rest after it.
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(
        contents(&active),
        [
            "q1 better",
            "reply to: q1 better",
            "q2",
            "reply to: q2",
            "q3",
            "reply to: q3"
        ]
    );
    assert_eq!(active[1]["branch"], json!({"index": 2, "count": 2}));
    assert_eq!(active[2]["parent_id"], new_reply);
    // The old reply is a version beside it.
    assert_eq!(active[1]["sibling_ids"], json!([ids[1], new_reply]));
    // Switching to the old reply's branch shows it alone under q1 (nothing followed it since).
    let old = activate(&app, &token, &chat_id, &ids[1]).await;
    assert_eq!(old.body["leaf_id"], ids[1].as_str());
    assert_eq!(
        contents(&messages(&app, &token, &chat_id, "").await),
        ["q1 better", "reply to: q1"]
    );
}

#[tokio::test]
async fn bad_branch_requests_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    // A reply cannot start a branch; a missing message, another user's chat: 404.
    let reply = branch(&app, &token, &chat_id, &ids[1], "x").await;
    assert_eq!(assert_error(&reply, 400), "invalid_field");
    assert_eq!(reply.body["field"], "message_id");
    let missing = branch(&app, &token, &chat_id, &uuid::Uuid::now_v7().to_string(), "x").await;
    assert_error(&missing, 404);
    let bob = app.register("bob").await;
    assert_error(&branch(&app, &bob, &chat_id, &ids[0], "x").await, 404);
    assert_error(&activate(&app, &bob, &chat_id, &ids[0]).await, 404);
    for (body, status) in [
        (json!({}), 400),
        (json!({"content": ""}), 400),
        (json!({"content": "  "}), 400),
        (json!({"content": "x", "extra": 1}), 400),
        (json!({"content": "x".repeat(16_001)}), 413),
    ] {
        let refused = app
            .call(
                "POST",
                &format!("/api/chats/{chat_id}/messages/{}/branches/", ids[2]),
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_error(&refused, status);
    }
    for body in [json!({}), json!({"message_id": "not-a-uuid"}), json!({"message_id": 7})] {
        let refused = app
            .call(
                "PUT",
                &format!("/api/chats/{chat_id}/active/"),
                Some(&token),
                Some(body),
            )
            .await;
        assert_error(&refused, 400);
    }
    assert_error(
        &activate(&app, &token, &chat_id, &uuid::Uuid::now_v7().to_string()).await,
        404,
    );
    let bogus = app
        .call(
            "GET",
            &format!("/api/chats/{chat_id}/messages/?branch=some"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(bogus.body["field"], "branch");
    assert_error(&bogus, 400);
    // Nothing was charged or changed.
    assert_eq!(messages(&app, &token, &chat_id, "?branch=all").await.len(), 6);
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"],
        3700
    );
}

#[tokio::test]
async fn a_failed_or_unpaid_branch_costs_nothing() {
    let app = TestApp::with_vars(&[("INITIAL_TOKENS", "300")]).await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    // The balance is spent: 402, and the chat is as it was.
    let unpaid = branch(&app, &token, &chat_id, &ids[2], "q2 again").await;
    assert_error(&unpaid, 402);
    assert_eq!(messages(&app, &token, &chat_id, "?branch=all").await.len(), 6);

    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    app.provider.set(Behaviour::Fail(ProviderError::Failed("nope".into())));
    let failed = branch(&app, &token, &chat_id, &ids[2], "q2 again").await;
    assert_eq!(assert_error(&failed, 502), "provider_failed");
    // Like a failed send: not charged, the question kept (now the active branch's
    // last message) and named so the client can regenerate.
    assert_eq!(failed.body["chat_id"], chat_id.as_str());
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(contents(&active), ["q1", "reply to: q1", "q2 again"]);
    assert_eq!(failed.body["message_id"], active[2]["message_id"]);
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"],
        3700
    );
    app.provider.set(Behaviour::Answer);
    let regenerated = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), Some(&token), None)
        .await;
    assert_eq!(regenerated.body["content"], "reply to: q2 again");
}

#[tokio::test]
async fn every_surface_sees_the_active_branch() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let (chat_id, ids) = three_exchanges(&app, &token).await;
    branch(&app, &token, &chat_id, &ids[2], "q2 again").await;
    // Dialect B's history of the chat (by its number) and dialect D's message list.
    let number = app
        .call("GET", &format!("/api/chats/{chat_id}/"), Some(&token), None)
        .await
        .body["number"]
        .as_i64()
        .unwrap();
    let d = app
        .call("GET", &format!("/api/get_chat_messages/{chat_id}/"), Some(&token), None)
        .await;
    assert_eq!(
        contents(d.body.as_array().unwrap()),
        ["q1", "reply to: q1", "q2 again", "reply to: q2 again"]
    );
    let b = app
        .call(
            "GET",
            &format!("/api/conversations/{number}/messages/"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(b.body["total_messages"], 4);
    assert_eq!(
        contents(b.body["messages"].as_array().unwrap()),
        ["q1", "reply to: q1", "q2 again", "reply to: q2 again"]
    );
    // Dialect B continues the conversation on its active branch.
    let sent = app
        .call(
            "POST",
            "/api/chat/",
            Some(&token),
            Some(json!({"message": "q3 via B", "conversation_id": number})),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let seen = app.provider.reply_requests().pop().unwrap();
    let seen: Vec<&str> = seen.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(
        seen,
        ["q1", "reply to: q1", "q2 again", "reply to: q2 again", "q3 via B"]
    );
}

/// A chat written before messages had parents (none stored, a regenerated reply
/// kept as a superseded version) is read as one branch, its versions siblings,
/// and branches from it like any other.
#[tokio::test]
async fn a_chat_stored_before_branches_is_one_branch_that_can_branch() {
    use chatbot_core::store::Role;
    use chatbot_tests::contract::{chat, message};
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let store = app.state.store.clone();
    let owner = store.user_by_username("alice").await.unwrap().unwrap();
    let mut old = chat(&owner, 0);
    old.number = store.next_chat_number(owner.id).await.unwrap();
    store.create_chat(&old).await.unwrap();
    let q1 = message(&old, Role::User, "q1", 1);
    let mut a1 = message(&old, Role::Assistant, "a1", 2);
    a1.reply_to = Some(q1.id);
    a1.superseded = true;
    let mut a1b = message(&old, Role::Assistant, "a1b", 3);
    a1b.reply_to = Some(q1.id);
    let q2 = message(&old, Role::User, "q2", 4);
    let mut a2 = message(&old, Role::Assistant, "a2", 5);
    a2.reply_to = Some(q2.id);
    for m in [&q1, &a1, &a1b, &q2, &a2] {
        assert_eq!(m.parent_id, None, "written as before branches");
        store.add_message(m).await.unwrap();
    }
    let chat_id = old.id.to_string();
    let active = messages(&app, &token, &chat_id, "").await;
    assert_eq!(contents(&active), ["q1", "a1b", "q2", "a2"]);
    assert_eq!(active[0]["parent_id"], Value::Null);
    assert_eq!(active[1]["parent_id"], q1.id.to_string());
    assert_eq!(active[1]["branch"], json!({"index": 2, "count": 2}));
    assert_eq!(active[2]["parent_id"], a1b.id.to_string());
    assert_eq!(active[3]["parent_id"], q2.id.to_string());
    // The earlier version is a click away, and back.
    activate(&app, &token, &chat_id, &a1.id.to_string()).await;
    assert_eq!(contents(&messages(&app, &token, &chat_id, "").await), ["q1", "a1"]);
    activate(&app, &token, &chat_id, &a1b.id.to_string()).await;
    assert_eq!(
        contents(&messages(&app, &token, &chat_id, "").await),
        ["q1", "a1b", "q2", "a2"]
    );
    // A branch beside q2: the model sees q1 and the version shown, a1b.
    let created = branch(&app, &token, &chat_id, &q2.id.to_string(), "q2 again").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let seen = app.provider.reply_requests().pop().unwrap();
    let seen: Vec<&str> = seen.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(seen, ["q1", "a1b", "q2 again"]);
}
