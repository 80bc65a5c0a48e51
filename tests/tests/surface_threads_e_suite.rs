//! Dialect E's own test suite (its Django `chat/tests.py` and `accounts/tests.py`),
//! written anew against this API: the same requests and the same assertions on
//! behaviour, with the session cookie as E's test client used it. Then E's
//! transcript rule (API.md §4): its client sends the whole conversation in
//! `message`, and only the question is stored and answered. Runs on SQLite, and on
//! DynamoDB with `TEST_STORE=dynamodb`.

use std::collections::HashMap;

use chatbot_tests::{assert_error, Browser, TestApp, TestResponse, E_CLIENT_ORIGIN};
use serde_json::{json, Value};

/// E's `setUp`: `testuser` signed in (the cookie), with one thread of their own.
async fn set_up(app: &TestApp) -> (Browser<'_>, i64) {
    let mut browser = Browser::new(app);
    browser.sign_up_and_in("testuser").await;
    let created = browser.send("POST", "/chat/threads/new/", None).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let thread_id = created.body["thread_id"].as_i64().expect("a thread id");
    (browser, thread_id)
}

/// E's client's JSON body, whatever it holds, sent with the cookie.
async fn post_raw(app: &TestApp, browser: &Browser<'_>, path: &str, body: &str) -> TestResponse {
    let headers = HashMap::from([
        ("origin".to_string(), E_CLIENT_ORIGIN.to_string()),
        ("cookie".to_string(), browser.cookie.clone().expect("signed in")),
        ("content-type".to_string(), "application/json".to_string()),
    ]);
    app.send("POST", path, headers, Some(body.to_string()), "198.51.100.7")
        .await
}

fn contents(messages: &TestResponse) -> Vec<(String, String)> {
    messages.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["sender"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ------------------------------------------------------------ chat/tests.py

#[tokio::test]
async fn test_start_new_thread() {
    let app = TestApp::new().await;
    let (mut browser, _) = set_up(&app).await;
    let response = browser.send("POST", "/chat/threads/new/", None).await;
    assert_eq!(response.status, 201);
    assert!(response.body.get("thread_id").is_some(), "{}", response.text);
}

#[tokio::test]
async fn test_get_user_threads() {
    let app = TestApp::new().await;
    let (mut browser, thread_id) = set_up(&app).await;
    let response = browser.send("GET", "/chat/threads/", None).await;
    assert_eq!(response.status, 200);
    let threads = response.body["threads"].as_array().expect("threads");
    assert!(!threads.is_empty());
    assert_eq!(threads[0]["id"], thread_id);
}

#[tokio::test]
async fn test_get_thread_messages() {
    // E's test writes "Hello" and "Hi there!" to its database; here they come
    // through the route, as E's client sends a first message: a one-line transcript.
    let app = TestApp::new().await;
    let (mut browser, thread_id) = set_up(&app).await;
    let sent = browser
        .send(
            "POST",
            &format!("/chat/response/{thread_id}/"),
            Some(json!({"message": "user: Hello"})),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);

    let response = browser
        .send("GET", &format!("/chat/threads/{thread_id}/messages/"), None)
        .await;
    assert_eq!(response.status, 200);
    let messages = response.body["messages"].as_array().expect("messages");
    assert!(!messages.is_empty());
    assert_eq!(messages[0]["content"], "Hello");
    assert_eq!(messages[0]["sender"], "user");
    assert_eq!(messages[1]["sender"], "bot");
}

#[tokio::test]
async fn test_chat_with_model() {
    let app = TestApp::new().await;
    let (mut browser, thread_id) = set_up(&app).await;
    let response = browser
        .send(
            "POST",
            &format!("/chat/response/{thread_id}/"),
            Some(json!({"message": "Hello"})),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert!(response.body.get("response").is_some(), "{}", response.text);
}

#[tokio::test]
async fn test_update_thread_title() {
    let app = TestApp::new().await;
    let (mut browser, thread_id) = set_up(&app).await;
    let response = browser
        .send(
            "PUT",
            &format!("/chat/threads/{thread_id}/update-title/"),
            Some(json!({"title": "New Title"})),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    // E's test reads the thread again from its database; here, from the list.
    let threads = browser.send("GET", "/chat/threads/", None).await;
    let thread = threads.body["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == thread_id)
        .cloned()
        .expect("the thread is listed");
    assert_eq!(thread["title"], "New Title");
}

#[tokio::test]
async fn test_delete_thread() {
    let app = TestApp::new().await;
    let (mut browser, thread_id) = set_up(&app).await;
    let response = browser
        .send("POST", &format!("/chat/threads/{thread_id}/delete/"), None)
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let threads = browser.send("GET", "/chat/threads/", None).await;
    assert_eq!(threads.body["threads"], json!([]), "the thread no longer exists");
    let gone = browser
        .send("GET", &format!("/chat/threads/{thread_id}/messages/"), None)
        .await;
    assert_error(&gone, 404);
}

#[tokio::test]
async fn test_invalid_message() {
    let app = TestApp::new().await;
    let (mut browser, thread_id) = set_up(&app).await;
    let response = browser
        .send(
            "POST",
            &format!("/chat/response/{thread_id}/"),
            Some(json!({"message": ""})),
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["error"], "No message provided");
}

#[tokio::test]
async fn test_invalid_json() {
    let app = TestApp::new().await;
    let (browser, thread_id) = set_up(&app).await;
    let response = post_raw(&app, &browser, &format!("/chat/response/{thread_id}/"), "invalid_json").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["error"], "Invalid JSON");
}

// -------------------------------------------------------- accounts/tests.py

/// E's `AuthViewsTestCase.setUp`: `testuser` exists (not signed in).
async fn with_testuser(app: &TestApp) {
    let body = json!({"username": "testuser", "email": "test@example.com", "password": "password123"});
    let response = app.call("POST", "/auth/register/", None, Some(body)).await;
    assert_eq!(response.status, 201, "{}", response.text);
}

async fn signed_in<'a>(app: &'a TestApp, username: &str, password: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let body = json!({"username": username, "password": password});
    let response = browser.send("POST", "/auth/login/", Some(body)).await;
    assert_eq!(response.status, 200, "{}", response.text);
    browser
}

#[tokio::test]
async fn test_register_view() {
    let app = TestApp::new().await;
    with_testuser(&app).await;
    let body = json!({"username": "newuser", "email": "newuser@example.com", "password": "newpassword123"});
    let response = app.call("POST", "/auth/register/", None, Some(body)).await;
    assert_eq!(response.status, 201);
    assert!(response.body.get("username").is_some(), "{}", response.text);
    assert!(response.body.get("email").is_some(), "{}", response.text);
}

#[tokio::test]
async fn test_login_view() {
    let app = TestApp::new().await;
    with_testuser(&app).await;
    let body = json!({"username": "testuser", "password": "password123"});
    let response = app.call("POST", "/auth/login/", None, Some(body)).await;
    assert_eq!(response.status, 200);
    assert!(response.body["message"].as_str().unwrap().contains("Login successful"));
}

#[tokio::test]
async fn test_login_view_invalid_credentials() {
    let app = TestApp::new().await;
    with_testuser(&app).await;
    let body = json!({"username": "testuser", "password": "wrongpassword"});
    let response = app.call("POST", "/auth/login/", None, Some(body)).await;
    assert_eq!(response.status, 400);
    assert!(response.body["error"]
        .as_str()
        .unwrap()
        .contains("Invalid username or password"));
}

#[tokio::test]
async fn test_logout_view() {
    let app = TestApp::new().await;
    with_testuser(&app).await;
    let mut browser = signed_in(&app, "testuser", "password123").await;
    let response = browser.send("POST", "/auth/logout/", None).await;
    assert_eq!(response.status, 200);
    assert!(response.body["message"].as_str().unwrap().contains("Logout successful"));
}

#[tokio::test]
async fn test_delete_user_view() {
    let app = TestApp::new().await;
    with_testuser(&app).await;
    let mut browser = signed_in(&app, "testuser", "password123").await;
    let response = browser.send("DELETE", "/auth/delete/", None).await;
    assert_eq!(response.status, 200);
    assert!(response.body["message"]
        .as_str()
        .unwrap()
        .contains("User deleted successfully"));
    // E's test looks the user up in its database; here, the account cannot sign in.
    let again = json!({"username": "testuser", "password": "password123"});
    let response = app.call("POST", "/auth/login/", None, Some(again)).await;
    assert_eq!(response.status, 400, "the user does not exist: {}", response.text);
}

#[tokio::test]
async fn test_deactivate_user_view() {
    let app = TestApp::new().await;
    with_testuser(&app).await;
    let testuser_token = app
        .call(
            "POST",
            "/auth/login/",
            None,
            Some(json!({"username": "testuser", "password": "password123"})),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    // E's `create_superuser`: an account, then the admin role from the operator.
    let body = json!({"username": "admin", "email": "admin@example.com", "password": "adminpassword"});
    assert_eq!(app.call("POST", "/auth/register/", None, Some(body)).await.status, 201);
    chatbot_admin::grant(app.state.store.as_ref(), "admin").await.unwrap();
    let mut browser = signed_in(&app, "admin", "adminpassword").await;
    let response = browser.send("POST", "/auth/deactivate/testuser/", None).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert!(response.body["message"]
        .as_str()
        .unwrap()
        .contains("User testuser has been deactivated."));
    // E's test reads `is_active` again; here, the account's token is refused.
    let refused = app.call("GET", "/auth/status/", Some(&testuser_token), None).await;
    assert_eq!(assert_error(&refused, 403), "account_deactivated");
}

// ---------------------------------------------------- the transcript rule

/// What E's client sends: every message shown so far and the new question, one
/// `sender: content` line each.
fn transcript(turns: &[(&str, &str)]) -> String {
    turns
        .iter()
        .map(|(sender, content)| format!("{sender}: {content}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn only_the_question_is_stored_and_the_model_sees_the_stored_thread() {
    let app = TestApp::new().await;
    let (mut browser, id) = set_up(&app).await;
    let path = format!("/chat/response/{id}/");
    let first = browser
        .send("POST", &path, Some(json!({"message": transcript(&[("user", "Hi")])})))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["response"], "reply to: Hi");

    // The client's next message repeats the conversation before the question.
    let message = transcript(&[("user", "Hi"), ("bot", "reply to: Hi"), ("user", "What is Rust?")]);
    let second = browser.send("POST", &path, Some(json!({ "message": message }))).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["response"], "reply to: What is Rust?");

    let messages = browser
        .send("GET", &format!("/chat/threads/{id}/messages/"), None)
        .await;
    assert_eq!(
        contents(&messages),
        [
            ("user".into(), "Hi".into()),
            ("bot".into(), "reply to: Hi".into()),
            ("user".into(), "What is Rust?".into()),
            ("bot".into(), "reply to: What is Rust?".into()),
        ]
    );
    // The model got the stored turns, each once, not the transcript inside a turn.
    let last = app.provider.reply_requests().pop().expect("the model was asked");
    let seen: Vec<&str> = last.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(seen, ["Hi", "reply to: Hi", "What is Rust?"]);
}

#[tokio::test]
async fn the_streamed_route_stores_the_question_too() {
    let app = TestApp::new().await;
    let (mut browser, id) = set_up(&app).await;
    let message = transcript(&[("user", "Hi"), ("bot", "Hello!"), ("user", "And now?")]);
    let streamed = browser
        .send(
            "POST",
            &format!("/chat/streaming-response/{id}/"),
            Some(json!({ "message": message })),
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    assert_eq!(streamed.text, "reply to: And now?");
    let messages = browser
        .send("GET", &format!("/chat/threads/{id}/messages/"), None)
        .await;
    assert_eq!(contents(&messages)[0], ("user".into(), "And now?".into()));
}

#[tokio::test]
async fn a_question_of_several_lines_stays_whole_and_a_plain_message_is_kept_as_sent() {
    let app = TestApp::new().await;
    let (mut browser, id) = set_up(&app).await;
    let path = format!("/chat/response/{id}/");
    let several = "user: Hi\nbot: Hello!\nuser: Two things:\n- one\n- two";
    assert_eq!(
        browser
            .send("POST", &path, Some(json!({ "message": several })))
            .await
            .status,
        200
    );
    let plain = "No prefix at all\non two lines";
    assert_eq!(
        browser
            .send("POST", &path, Some(json!({ "message": plain })))
            .await
            .status,
        200
    );
    let messages = browser
        .send("GET", &format!("/chat/threads/{id}/messages/"), None)
        .await;
    let questions: Vec<String> = contents(&messages)
        .into_iter()
        .filter(|(sender, _)| sender == "user")
        .map(|(_, content)| content)
        .collect();
    assert_eq!(questions, ["Two things:\n- one\n- two", plain]);
}

#[tokio::test]
async fn a_blank_question_is_no_message_and_costs_nothing() {
    let app = TestApp::new().await;
    let (mut browser, id) = set_up(&app).await;
    for message in ["user:", "user: Hi\nbot: Hello!\nuser:   ", "   "] {
        let response = browser
            .send(
                "POST",
                &format!("/chat/response/{id}/"),
                Some(json!({ "message": message })),
            )
            .await;
        assert_eq!(response.status, 400, "{message:?}: {}", response.text);
        assert_eq!(response.body["error"], "No message provided");
    }
    let messages = browser
        .send("GET", &format!("/chat/threads/{id}/messages/"), None)
        .await;
    assert_eq!(messages.body["messages"], json!([]));
    let balance = browser.send("GET", "/api/tokens/", None).await;
    assert_eq!(balance.body["tokens"], 4000);
}

#[tokio::test]
async fn the_length_limit_is_the_questions_not_the_transcripts() {
    let app = TestApp::new().await;
    let (mut browser, id) = set_up(&app).await;
    let path = format!("/chat/response/{id}/");
    let long_reply = "x".repeat(20_000);
    let message = transcript(&[("user", "Hi"), ("bot", &long_reply), ("user", "Short?")]);
    let response = browser.send("POST", &path, Some(json!({ "message": message }))).await;
    assert_eq!(response.status, 200, "a long history is fine: {}", response.text);

    let long_question = "y".repeat(16_001);
    let message = transcript(&[("user", "Hi"), ("bot", "Hello"), ("user", &long_question)]);
    let response = browser.send("POST", &path, Some(json!({ "message": message }))).await;
    assert_eq!(assert_error(&response, 413), "message_too_long");
    assert_eq!(response.body["field"], "message");
}

#[tokio::test]
async fn a_deleted_thread_is_not_found_and_never_made_again() {
    let app = TestApp::new().await;
    let (mut browser, id) = set_up(&app).await;
    let path = format!("/chat/response/{id}/");
    assert_eq!(
        browser
            .send("POST", &path, Some(json!({"message": "user: Hi"})))
            .await
            .status,
        200
    );
    browser
        .send("DELETE", &format!("/chat/threads/{id}/delete/"), None)
        .await;
    for route in ["response", "streaming-response"] {
        let response = browser
            .send(
                "POST",
                &format!("/chat/{route}/{id}/"),
                Some(json!({"message": "user: Hi\nbot: reply to: Hi\nuser: Still there?"})),
            )
            .await;
        assert_eq!(response.status, 404, "{route}: {}", response.text);
        assert_eq!(response.body["error"], "Thread not found");
    }
    let threads = browser.send("GET", "/chat/threads/", None).await;
    assert_eq!(threads.body["threads"], json!([]));
    let chats = browser.send("GET", "/api/chats/", None).await;
    assert_eq!(chats.body, Value::Array(vec![]), "no chat anywhere");
}
