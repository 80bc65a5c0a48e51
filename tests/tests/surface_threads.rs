//! Dialect E (API.md §4): its client's whole flow through the session cookie, the
//! shapes and statuses it reads, and the originals' bugs it must not meet (raw
//! passwords, login redirects, 500s for foreign ids or rate limits, empty 200s for
//! failed models). Runs on SQLite, and on DynamoDB with `TEST_STORE=dynamodb`.

use chatbot_core::llm::ProviderError;
use chatbot_tests::{assert_error, Behaviour, Browser, TestApp};
use serde_json::json;

const CLIENT: &str = chatbot_tests::E_CLIENT_ORIGIN;
const PASSWORD: &str = chatbot_tests::BROWSER_PASSWORD;

#[tokio::test]
async fn the_clients_whole_flow_works_with_the_cookie_alone() {
    let app = TestApp::new().await;
    let mut browser = Browser::new(&app);

    let register = json!({"username": "erin", "email": "erin@example.com", "password": PASSWORD});
    let response = browser.send("POST", "/auth/register/", Some(register)).await;
    assert_eq!(response.status, 201, "{}", response.text);
    assert_eq!(response.body["message"], "User created successfully");
    assert_eq!(response.body["username"], "erin");
    assert_eq!(response.body["email"], "erin@example.com");
    assert!(!response.text.contains(PASSWORD), "no raw password: {}", response.text);
    assert!(
        response.set_cookies().is_empty(),
        "E's client logs in after registering"
    );
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(CLIENT),
        "the client's origin is echoed"
    );
    assert_eq!(response.header("access-control-allow-credentials"), Some("true"));

    let login = json!({"username": "erin", "password": PASSWORD});
    let response = browser.send("POST", "/auth/login/", Some(login)).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["message"], "Login successful");
    let token = response.body["token"].as_str().unwrap().to_string();
    let cookies = response.set_cookies();
    assert_eq!(cookies.len(), 1);
    assert_eq!(
        cookies[0],
        format!("sessionid={token}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax; Secure")
    );
    assert!(!response.text.contains(PASSWORD));

    let status = browser.send("GET", "/auth/status/", None).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.body["message"], "User is logged in");

    let created = browser.send("POST", "/chat/threads/new/", None).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["thread_id"], 1, "thread ids are chat numbers");
    let second = browser.send("POST", "/chat/threads/new", None).await;
    assert_eq!(second.body["thread_id"], 2, "the slashless path answers too");

    let reply = browser
        .send("POST", "/chat/response/1/", Some(json!({"message": "hello there"})))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["response"], "reply to: hello there");
    assert!(reply.header("x-ratelimit-limit").is_some());

    let streamed = browser
        .send(
            "POST",
            "/chat/streaming-response/1/",
            Some(json!({"message": "and now?"})),
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    assert_eq!(streamed.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(streamed.text, "reply to: and now?", "only the reply's text");
    assert_eq!(streamed.header("access-control-allow-credentials"), Some("true"));

    let threads = browser.send("GET", "/chat/threads/", None).await;
    assert_eq!(threads.status, 200);
    let list = threads.body["threads"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], 2, "newest first");
    assert_eq!(list[0]["title"], "New Chat", "an empty thread's title");
    assert_eq!(list[1]["id"], 1);
    assert!(list[1]["title"]
        .as_str()
        .is_some_and(|t| !t.is_empty() && t != "New Chat"));
    assert!(list[1]["created_at"].is_string());

    let messages = browser.send("GET", "/chat/threads/1/messages/", None).await;
    assert_eq!(messages.status, 200);
    let shown: Vec<(&str, &str)> = messages.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["sender"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shown,
        [
            ("user", "hello there"),
            ("bot", "reply to: hello there"),
            ("user", "and now?"),
            ("bot", "reply to: and now?")
        ]
    );

    let renamed = browser
        .send(
            "PUT",
            "/chat/threads/1/update-title/",
            Some(json!({"title": "Greetings"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["status"], "Title updated successfully");
    let threads = browser.send("GET", "/chat/threads/", None).await;
    assert_eq!(threads.body["threads"][1]["title"], "Greetings");

    let deleted = browser.send("DELETE", "/chat/threads/1/delete/", None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["status"], "Thread deleted successfully");
    let gone = browser.send("GET", "/chat/threads/1/messages/", None).await;
    assert_error(&gone, 404);
    let deleted = browser.send("POST", "/chat/threads/2/delete/", None).await;
    assert_eq!(deleted.status, 200, "E's own tests delete with POST");
    browser.send("POST", "/chat/threads/new/", None).await;
    let cleared = browser.send("DELETE", "/chat/threads/delete/", None).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["status"], "Successfully deleted 1 threads");
    let threads = browser.send("GET", "/chat/threads/", None).await;
    assert_eq!(threads.body["threads"], json!([]));

    let logout = browser.send("POST", "/auth/logout/", None).await;
    assert_eq!(logout.status, 200);
    assert_eq!(logout.body["message"], "Logout successful");
    assert!(logout.set_cookies()[0].starts_with("sessionid=; Max-Age=0;"));
    assert_eq!(browser.cookie, None, "the browser dropped the cookie");
    // The token the cookie carried is revoked, not just forgotten by the browser.
    let replay = app
        .call_with(
            "GET",
            "/auth/status/",
            &[("cookie", &format!("sessionid={token}"))],
            None,
        )
        .await;
    assert_error(&replay, 401);
    assert_error(&app.call("GET", "/auth/status/", Some(&token), None).await, 401);
}

#[tokio::test]
async fn the_header_token_works_on_every_e_route_too() {
    let app = TestApp::new().await;
    let token = app.register("hank").await;
    let t = Some(token.as_str());
    assert_eq!(app.call("GET", "/auth/status/", t, None).await.status, 200);
    let created = app.call("POST", "/chat/threads/new/", t, None).await;
    assert_eq!(created.status, 201);
    let reply = app
        .call("POST", "/chat/response/1/", t, Some(json!({"message": "hi"})))
        .await;
    assert_eq!(reply.body["response"], "reply to: hi");
    assert_eq!(app.call("GET", "/chat/threads/", t, None).await.status, 200);
    let logout = app.call("POST", "/auth/logout/", t, None).await;
    assert_eq!(logout.status, 200);
    assert_error(&app.call("GET", "/auth/status/", t, None).await, 401);
}

#[tokio::test]
async fn without_credentials_every_e_route_is_a_401_json_never_a_redirect() {
    let app = TestApp::new().await;
    for (method, path) in [
        ("POST", "/auth/logout/"),
        ("GET", "/auth/status/"),
        ("DELETE", "/auth/delete/"),
        ("POST", "/auth/deactivate/someone/"),
        ("POST", "/chat/threads/new/"),
        ("GET", "/chat/threads/"),
        ("GET", "/chat/threads/1/messages/"),
        ("PUT", "/chat/threads/1/update-title/"),
        ("DELETE", "/chat/threads/1/delete/"),
        ("POST", "/chat/threads/1/delete/"),
        ("DELETE", "/chat/threads/delete/"),
        ("POST", "/chat/response/1/"),
        ("POST", "/chat/streaming-response/1/"),
    ] {
        let response = app.call_with(method, path, &[("origin", CLIENT)], None).await;
        assert_eq!(assert_error(&response, 401), "not_authenticated", "{method} {path}");
        assert_eq!(response.header("location"), None);
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
    }
    let unknown = app
        .call_with("GET", "/auth/status/", &[("cookie", "sessionid=not-a-token")], None)
        .await;
    assert_error(&unknown, 401);
}

#[tokio::test]
async fn login_and_register_failures_have_e_s_statuses_and_messages() {
    let app = TestApp::new().await;
    let mut browser = Browser::new(&app);
    browser.sign_up_and_in("ivy").await;
    for body in [
        json!({"username": "ivy", "password": "wrong password"}),
        json!({"username": "nobody", "password": PASSWORD}),
    ] {
        let response = app.call("POST", "/auth/login/", None, Some(body)).await;
        assert_error(&response, 400);
        assert_eq!(response.body["error"], "Invalid username or password");
        assert!(response.set_cookies().is_empty());
    }
    let taken = json!({"username": "IVY", "email": "other@example.com", "password": PASSWORD});
    let response = app.call("POST", "/auth/register/", None, Some(taken)).await;
    assert_error(&response, 400);
    assert_eq!(response.body["error"], "Username already taken");
    let taken = json!({"username": "ivy2", "email": "ivy@example.com", "password": PASSWORD});
    let response = app.call("POST", "/auth/register/", None, Some(taken)).await;
    assert_eq!(response.body["error"], "Email already registered");
    let short = json!({"username": "ivy3", "email": "ivy3@example.com", "password": "short"});
    let response = app.call("POST", "/auth/register/", None, Some(short)).await;
    assert_eq!(assert_error(&response, 400), "invalid_field");
    assert_eq!(response.body["field"], "password");
    for path in ["/auth/login/", "/auth/register/"] {
        let response = app
            .send(
                "POST",
                path,
                [("content-type".to_string(), "application/json".to_string())].into(),
                Some("{not json".into()),
                "198.51.100.9",
            )
            .await;
        assert_error(&response, 400);
        assert_eq!(response.body["error"], "Invalid JSON", "{path}");
    }
}

#[tokio::test]
async fn bad_message_bodies_are_e_s_400s() {
    let app = TestApp::new().await;
    let token = app.register("joe").await;
    let t = Some(token.as_str());
    app.call("POST", "/chat/threads/new/", t, None).await;
    for path in ["/chat/response/1/", "/chat/streaming-response/1/"] {
        for body in [
            json!({}),
            json!({"message": ""}),
            json!({"message": "   "}),
            json!({"message": null}),
        ] {
            let response = app.call("POST", path, t, Some(body.clone())).await;
            assert_error(&response, 400);
            assert_eq!(response.body["error"], "No message provided", "{path} {body}");
        }
        let response = app.call("POST", path, t, None).await;
        assert_eq!(response.body["error"], "No message provided", "no body at all");
        for (content_type, raw) in [("application/json", "{\"message\": "), ("text/plain", "hello")] {
            let headers = [
                ("authorization".to_string(), format!("Token {token}")),
                ("content-type".to_string(), content_type.to_string()),
            ];
            let response = app
                .send("POST", path, headers.into(), Some(raw.into()), "198.51.100.7")
                .await;
            assert_error(&response, 400);
            assert_eq!(response.body["error"], "Invalid JSON", "{path} {raw}");
        }
        let response = app.call("POST", path, t, Some(json!({"message": 7}))).await;
        assert_error(&response, 400);
        let long = "x".repeat(16_001);
        let response = app.call("POST", path, t, Some(json!({"message": long}))).await;
        assert_error(&response, 413);
    }
    let untitled = app
        .call("PUT", "/chat/threads/1/update-title/", t, Some(json!({"title": " "})))
        .await;
    assert_error(&untitled, 400);
    assert_eq!(untitled.body["error"], "No title provided");
    let untitled = app.call("PUT", "/chat/threads/1/update-title/", t, None).await;
    assert_eq!(untitled.body["error"], "No title provided");
    let messages = app.call("GET", "/chat/threads/1/messages/", t, None).await;
    assert_eq!(messages.body["messages"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn missing_foreign_and_malformed_thread_ids_are_404_and_400() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.call("POST", "/chat/threads/new/", Some(&alice), None).await;
    app.call("POST", "/chat/threads/new/", Some(&alice), None).await;
    let message = Some(json!({"message": "hi"}));
    let title = Some(json!({"title": "mine"}));
    for (method, suffix, body) in [
        ("GET", "/chat/threads/{}/messages/", None),
        ("PUT", "/chat/threads/{}/update-title/", title.clone()),
        ("DELETE", "/chat/threads/{}/delete/", None),
        ("POST", "/chat/threads/{}/delete/", None),
        ("POST", "/chat/response/{}/", message.clone()),
        ("POST", "/chat/streaming-response/{}/", message.clone()),
    ] {
        let foreign = app
            .call(method, &suffix.replace("{}", "2"), Some(&bob), body.clone())
            .await;
        assert_eq!(assert_error(&foreign, 404), "not_found", "{method} {suffix}");
        assert_eq!(foreign.body["error"], "Thread not found");
        let missing = app
            .call(method, &suffix.replace("{}", "99"), Some(&alice), body.clone())
            .await;
        assert_error(&missing, 404);
        for bad in ["abc", "0", "-1"] {
            let malformed = app
                .call(method, &suffix.replace("{}", bad), Some(&alice), body.clone())
                .await;
            assert_eq!(
                assert_error(&malformed, 400),
                "invalid_field",
                "{method} {suffix} {bad}"
            );
        }
    }
    let mine = app.call("GET", "/chat/threads/2/messages/", Some(&alice), None).await;
    assert_eq!(mine.status, 200, "alice's thread is untouched");
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&bob), None).await.body["tokens"],
        4000
    );
}

#[tokio::test]
async fn a_failed_model_is_an_error_not_an_empty_reply() {
    let app = TestApp::new().await;
    let token = app.register("kim").await;
    let t = Some(token.as_str());
    app.call("POST", "/chat/threads/new/", t, None).await;
    app.provider.set(Behaviour::Fail(ProviderError::Failed("boom".into())));
    for path in ["/chat/response/1/", "/chat/streaming-response/1/"] {
        let response = app.call("POST", path, t, Some(json!({"message": "hi"}))).await;
        assert_eq!(
            assert_error(&response, 502),
            "provider_failed",
            "{path}: {}",
            response.text
        );
    }
    assert_eq!(
        app.call("GET", "/api/tokens/", t, None).await.body["tokens"],
        4000,
        "not charged"
    );
    let messages = app.call("GET", "/chat/threads/1/messages/", t, None).await;
    let senders: Vec<&str> = messages.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["user", "user"], "the questions are kept, no empty bot reply");
}

#[tokio::test]
async fn the_rate_limit_is_a_429_with_retry_after() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let token = app.register("lee").await;
    let t = Some(token.as_str());
    app.call("POST", "/chat/threads/new/", t, None).await;
    let body = Some(json!({"message": "hi"}));
    assert_eq!(app.call("POST", "/chat/response/1/", t, body.clone()).await.status, 200);
    assert_eq!(
        app.call("POST", "/chat/streaming-response/1/", t, body.clone())
            .await
            .status,
        200
    );
    let limited = app.call("POST", "/chat/response/1/", t, body).await;
    assert_eq!(assert_error(&limited, 429), "rate_limited");
    assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok()));
}

#[tokio::test]
async fn the_model_sees_the_newest_turns() {
    let app = TestApp::with_vars(&[("CONTEXT_MESSAGES", "2")]).await;
    let token = app.register("max").await;
    let t = Some(token.as_str());
    app.call("POST", "/chat/threads/new/", t, None).await;
    for text in ["first", "second", "third"] {
        let body = Some(json!({"message": text}));
        assert_eq!(app.call("POST", "/chat/response/1/", t, body).await.status, 200);
    }
    let requests = app.provider.reply_requests();
    let last = requests
        .iter()
        .rev()
        .find(|r| r.turns.last().is_some_and(|turn| turn.content == "third"))
        .expect("the last message was asked");
    let seen: Vec<&str> = last.turns.iter().map(|turn| turn.content.as_str()).collect();
    assert!(!seen.contains(&"first"), "the oldest turn is dropped: {seen:?}");
    assert_eq!(seen.last(), Some(&"third"));
}

#[tokio::test]
async fn account_deletion_and_deactivation_answer_e_s_messages() {
    let app = TestApp::new().await;
    let root = app.register("root").await;
    chatbot_admin::grant(app.state.store.as_ref(), "root").await.unwrap();
    let bob = app.register("bob").await;
    let refused = app.call("POST", "/auth/deactivate/root/", Some(&bob), None).await;
    assert_eq!(assert_error(&refused, 403), "not_admin");
    let missing = app.call("POST", "/auth/deactivate/nobody/", Some(&root), None).await;
    assert_error(&missing, 404);
    let done = app.call("POST", "/auth/deactivate/bob/", Some(&root), None).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["message"], "User bob has been deactivated.");
    assert_error(&app.call("GET", "/auth/status/", Some(&bob), None).await, 403);

    let mut browser = Browser::new(&app);
    browser.sign_up_and_in("cleo").await;
    browser.send("POST", "/chat/threads/new/", None).await;
    let deleted = browser.send("DELETE", "/auth/delete/", None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["message"], "User deleted successfully");
    assert!(deleted.set_cookies()[0].starts_with("sessionid=; Max-Age=0;"));
    let again = json!({"username": "cleo", "password": PASSWORD});
    let response = app.call("POST", "/auth/login/", None, Some(again)).await;
    assert_eq!(response.body["error"], "Invalid username or password");
}

mod streaming {
    use super::*;
    use chatbot_tests::fake_http::{FakeServer, Part};
    use chatbot_tests::wire;
    use http_body_util::BodyExt;
    use std::time::Duration;

    async fn with_openai() -> (TestApp, String, FakeServer) {
        let (app, server) = TestApp::new().await.with_fake_openai(Duration::from_secs(2)).await;
        let token = app.register("nora").await;
        app.call("POST", "/chat/threads/new/", Some(&token), None).await;
        (app, token, server)
    }

    #[tokio::test]
    async fn the_reply_streams_as_plain_text_piece_by_piece() {
        let (app, token, server) = with_openai().await;
        server.answer([
            wire::openai_stream(&["Hel", "lo", " there"], (5, 3)),
            wire::openai_completion("A Title", 1, 1),
        ]);
        let response = app
            .open_stream(
                "/chat/streaming-response/1/",
                &token,
                json!({"message": "hi", "provider": "openai"}),
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        let mut body = response.into_body();
        let mut pieces = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("a complete stream");
            pieces.push(String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap());
        }
        assert_eq!(pieces, ["Hel", "lo", " there"], "each piece as the model wrote it");
        let messages = app.call("GET", "/chat/threads/1/messages/", Some(&token), None).await;
        assert_eq!(messages.body["messages"][1]["content"], "Hello there");
        assert_eq!(messages.body["messages"][1]["sender"], "bot");
    }

    #[tokio::test]
    async fn a_model_that_breaks_off_aborts_the_stream_and_is_not_charged() {
        let (app, token, server) = with_openai().await;
        let mut cut = wire::openai_stream(&["Hel", "lo"], (1, 1));
        cut.parts.truncate(4);
        cut.parts.push(Part::Cut);
        server.answer([cut]);
        let response = app
            .open_stream(
                "/chat/streaming-response/1/",
                &token,
                json!({"message": "hi", "provider": "openai"}),
            )
            .await;
        assert_eq!(response.status(), 200, "the first piece was already on its way");
        let mut body = response.into_body();
        let mut text = String::new();
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => text.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap())),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            failed,
            "the client's read fails instead of ending cleanly after {text:?}"
        );
        assert_eq!(
            app.call("GET", "/api/tokens/", Some(&token), None).await.body["tokens"],
            4000
        );
        let messages = app.call("GET", "/chat/threads/1/messages/", Some(&token), None).await;
        let senders: Vec<&str> = messages.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sender"].as_str().unwrap())
            .collect();
        assert_eq!(senders, ["user"], "no cut reply is stored as a whole one");
    }
}
