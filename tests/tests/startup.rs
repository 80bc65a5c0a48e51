//! What a function builds when it starts (`AppState::from_config`): the store and
//! nothing else. The provider keys are read, and the AWS and HTTP clients built,
//! when a route first needs them; no Flan-T5 weights are ever loaded by an API
//! function, which reaches the model through the inference function. The AWS
//! endpoints here are scripted servers on loopback that record every request.

use chatbot_core::aws::SharedAws;
use chatbot_tests::dynamodb::sdk_config_at;
use chatbot_tests::fake_http::{Answer, FakeServer};
use chatbot_tests::{assert_error, tiny_flan_t5_dir, wire, TestApp};
use serde_json::json;

fn secret_reads(server: &FakeServer) -> usize {
    server
        .recorded()
        .iter()
        .filter(|r| r.headers.get("x-amz-target").map(String::as_str) == Some("secretsmanager.GetSecretValue"))
        .count()
}

#[tokio::test]
async fn the_secret_is_read_by_the_first_model_call_not_at_start() {
    let secrets = FakeServer::start().await;
    secrets.answer([Answer::json(
        200,
        &json!({"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:chatbot/keys-abc", "Name": "chatbot/keys",
            "VersionId": "v1", "SecretString": r#"{"OPENAI_API_KEY": "sk-lazy"}"#, "CreatedDate": 1700000000}),
    )]);
    let openai = FakeServer::start().await;
    openai.answer([wire::openai_completion("Hello there", 3, 2)]);
    let app = openai_app(&secrets, &openai).await;
    assert_eq!(secrets.recorded().len(), 0, "building the state reads nothing");

    // Routes that call no model never read it.
    let token = app.register("alice").await;
    assert_eq!(app.call("GET", "/api/health/", None, None).await.status, 200);
    assert_eq!(app.call("GET", "/api/chats/", Some(&token), None).await.status, 200);
    assert_eq!(app.call("GET", "/api/me/", Some(&token), None).await.status, 200);
    assert_eq!(secrets.recorded().len(), 0, "no model called: no secret read");

    // The first model call reads it, once, and uses the key it holds.
    let sent = send(&app, &token, "hi").await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert_eq!(sent.body["reply"]["Bot"], "Hello there");
    assert_eq!(secret_reads(&secrets), 1);
    assert_eq!(secrets.recorded().len(), 1);
    let auth: Vec<String> = openai
        .recorded()
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert!(
        !auth.is_empty() && auth.iter().all(|a| a == "Bearer sk-lazy"),
        "{auth:?}"
    );

    // Cached from then on.
    let again = send(&app, &token, "again").await;
    assert_eq!(again.status, 200, "{}", again.text);
    let models = app.call("GET", "/api/models/", Some(&token), None).await.body;
    let openai_model = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o-mini")
        .unwrap();
    assert_eq!(openai_model["available"], true);
    assert_eq!(secrets.recorded().len(), 1, "read once per container");
}

#[tokio::test]
async fn the_model_list_reads_the_secret_to_say_what_is_available() {
    let secrets = FakeServer::start().await;
    secrets.answer([Answer::json(
        200,
        &json!({"Name": "chatbot/keys", "SecretString": r#"{"GEMINI_API_KEY": "g-1"}"#}),
    )]);
    let aws = SharedAws::with(sdk_config_at(&secrets.url).await);
    let app = TestApp::from_config(&[("SECRET_ID", "chatbot/keys")], aws).await;
    let token = app.register("alice").await;
    assert_eq!(secrets.recorded().len(), 0);
    let models = app.call("GET", "/api/models/", Some(&token), None).await.body;
    let available = |id: &str| models.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap()["available"].clone();
    assert_eq!(available("gemini/gemini-1.5-flash"), true);
    assert_eq!(available("openai/gpt-4o-mini"), false);
    // The list says why, as the 503 of a call would.
    let reason = |id: &str| models.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap()["reason"].clone();
    assert_eq!(reason("gemini/gemini-1.5-flash"), json!(null));
    assert_eq!(reason("openai/gpt-4o-mini"), "OpenAI is not configured on this server.");
    assert_eq!(secret_reads(&secrets), 1, "one read for the whole list");
}

#[tokio::test]
async fn an_unreadable_secret_leaves_the_keys_missing_and_the_call_503() {
    let secrets = FakeServer::start().await;
    secrets.answer([Answer::json(
        400,
        &json!({"__type": "AccessDeniedException", "message": "not allowed"}),
    )]);
    let aws = SharedAws::with(sdk_config_at(&secrets.url).await);
    let vars = [
        ("SECRET_ID", "chatbot/keys"),
        ("DEFAULT_PROVIDER", "openai"),
        ("DEFAULT_MODEL", "gpt-4o-mini"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9"),
    ];
    let app = TestApp::from_config(&vars, aws).await;
    let token = app.register("alice").await;
    let sent = send(&app, &token, "hi").await;
    assert_eq!(assert_error(&sent, 503), "provider_unavailable");
    assert_eq!(
        sent.body["error"], "OpenAI is not configured on this server.",
        "the setting is named in the log only"
    );
    assert_eq!(secret_reads(&secrets), 1);
    // Not asked again at once: a forbidden secret is not read on every request.
    let again = send(&app, &token, "hi").await;
    assert_eq!(assert_error(&again, 503), "provider_unavailable");
    assert_eq!(secret_reads(&secrets), 1);
}

#[tokio::test]
async fn flan_t5_weights_without_an_inference_function_load_no_engine() {
    let weights = tiny_flan_t5_dir().display().to_string();
    let vars = [
        ("FLAN_T5_DIR", weights.as_str()),
        ("FLAN_T5_MODEL", "google/flan-t5-small"),
        ("DEFAULT_PROVIDER", "flan-t5"),
        ("DEFAULT_MODEL", "flan-t5-small"),
    ];
    let aws = SharedAws::from_env();
    let app = TestApp::from_config(&vars, aws.clone()).await;
    assert!(!aws.is_loaded(), "no AWS settings loaded for a SQLite function");
    let flan = app.state.llm().choose(Some("flan-t5"), None).unwrap();
    assert!(
        !flan.provider.is_available().await,
        "listed unavailable: no engine loaded"
    );

    let token = app.register("alice").await;
    let models = app.call("GET", "/api/models/", Some(&token), None).await.body;
    let small = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "flan-t5/flan-t5-small")
        .unwrap();
    assert_eq!(small["available"], false);
    let sent = send(&app, &token, "hi").await;
    assert_eq!(assert_error(&sent, 503), "provider_unavailable");
    let error = sent.body["error"].as_str().unwrap();
    assert_eq!(small["reason"], error, "the list gives the reason a call would get");
    assert_eq!(
        error, "Flan-T5 is not available on this server.",
        "no setting named to users"
    );
}

#[tokio::test]
async fn with_an_inference_function_flan_t5_is_invoked_on_first_use() {
    let lambda = FakeServer::start().await;
    lambda.answer([Answer::json(
        200,
        &json!({"generated": {"text": "Paris.", "prompt_tokens": 9, "completion_tokens": 2}}),
    )]);
    let aws = SharedAws::with(sdk_config_at(&lambda.url).await);
    let vars = [
        ("INFERENCE_FUNCTION", "flan-t5-inference"),
        ("FLAN_T5_MODEL", "google/flan-t5-small"),
        ("DEFAULT_PROVIDER", "flan-t5"),
        ("DEFAULT_MODEL", "flan-t5-small"),
    ];
    let app = TestApp::from_config(&vars, aws).await;
    let token = app.register("alice").await;
    assert_eq!(lambda.recorded().len(), 0, "nothing invoked at start");
    let sent = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "Capital of France?"})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert_eq!(sent.body["reply"]["Bot"], "Paris.");
    let invoked = lambda.recorded();
    assert!(invoked
        .iter()
        .all(|r| r.method == "POST" && r.path == "/2015-03-31/functions/flan-t5-inference/invocations"));
    let chat = invoked
        .iter()
        .find(|r| r.body["task"] == "chat")
        .expect("a chat invocation");
    assert_eq!(chat.body["model"], "flan-t5-small");
    assert_eq!(chat.body["turns"][0]["content"], "Capital of France?");

    // The function's own errors keep their kind.
    lambda.answer([Answer::json(
        200,
        &json!({"error": {"code": "provider_unavailable", "message": "flan-t5-base is not loaded here"}}),
    )]);
    let refused = send(&app, &token, "again").await;
    assert_eq!(assert_error(&refused, 503), "provider_unavailable");
    assert!(refused.body["error"].as_str().unwrap().contains("not loaded here"));
}

#[tokio::test]
async fn an_unreachable_inference_function_is_a_503() {
    // A port nothing listens on: the SDK cannot connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let aws = SharedAws::with(sdk_config_at(&url).await);
    let vars = [
        ("INFERENCE_FUNCTION", "flan-t5-inference"),
        ("FLAN_T5_MODEL", "google/flan-t5-small"),
        ("DEFAULT_PROVIDER", "flan-t5"),
        ("DEFAULT_MODEL", "flan-t5-small"),
    ];
    let app = TestApp::from_config(&vars, aws).await;
    let token = app.register("alice").await;
    let sent = send(&app, &token, "hi").await;
    assert_eq!(assert_error(&sent, 503), "provider_unavailable");
    assert!(
        sent.body["error"].as_str().unwrap().contains("could not be reached"),
        "{}",
        sent.text
    );
}

/// The app whose Flan-T5 is the inference function at `lambda` (flan-t5-small
/// loaded there), with a registered user's token.
async fn inference_app(lambda_url: &str) -> (TestApp, String) {
    let aws = SharedAws::with(sdk_config_at(lambda_url).await);
    let vars = [
        ("INFERENCE_FUNCTION", "flan-t5-inference"),
        ("FLAN_T5_MODEL", "google/flan-t5-small"),
        ("DEFAULT_PROVIDER", "flan-t5"),
        ("DEFAULT_MODEL", "flan-t5-small"),
    ];
    let app = TestApp::from_config(&vars, aws).await;
    let token = app.register("alice").await;
    (app, token)
}

/// The `/api/models/` entry for `id`.
async fn listed(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    let models = app.call("GET", "/api/models/", Some(token), None).await;
    assert_eq!(models.status, 200, "{}", models.text);
    models
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap()
        .clone()
}

fn status_asks(lambda: &FakeServer) -> Vec<serde_json::Value> {
    lambda
        .recorded()
        .into_iter()
        .filter(|r| r.body["task"] == "status")
        .map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn the_model_list_says_flan_t5_is_unavailable_when_the_inference_function_has_no_weights() {
    let lambda = FakeServer::start().await;
    let missing = "Flan-T5 weights are not installed: set FLAN_T5_DIR to a folder with config.json, tokenizer.json and model.safetensors.";
    lambda.answer([Answer::json(200, &json!({"status": {"reason": missing}}))]);
    let (app, token) = inference_app(&lambda.url).await;
    let small = listed(&app, &token, "flan-t5/flan-t5-small").await;
    assert_eq!(small["available"], false);
    assert_eq!(small["reason"], missing, "the function's own words");
    assert_eq!(small["default"], true);
    let base = listed(&app, &token, "flan-t5/flan-t5-base").await;
    assert_eq!(base["available"], false);
    assert!(
        base["reason"].as_str().unwrap().contains("not available here"),
        "{base}"
    );
    // The function was asked about the size it runs, once for both listings.
    assert_eq!(
        status_asks(&lambda),
        vec![json!({"task": "status", "model": "flan-t5-small"})]
    );
    // The OpenAI-compatible list offers only what can answer.
    let openai = app.call("GET", "/v1/models", Some(&token), None).await;
    assert_eq!(openai.status, 200, "{}", openai.text);
    assert!(!openai.text.contains("flan-t5-small"), "{}", openai.text);
}

#[tokio::test]
async fn the_model_list_says_flan_t5_is_available_when_the_inference_function_has_it() {
    let lambda = FakeServer::start().await;
    lambda.answer([Answer::json(200, &json!({"status": {"reason": null}}))]);
    let (app, token) = inference_app(&lambda.url).await;
    let small = listed(&app, &token, "flan-t5/flan-t5-small").await;
    assert_eq!(small["available"], true, "{small}");
    assert_eq!(small["reason"], json!(null));
    let openai = app.call("GET", "/v1/models", Some(&token), None).await;
    assert!(openai.text.contains("flan-t5/flan-t5-small"), "{}", openai.text);
    assert_eq!(status_asks(&lambda).len(), 1, "the answer is kept");
}

#[tokio::test]
async fn the_model_list_says_when_the_inference_function_cannot_be_reached_or_read() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (app, token) = inference_app(&url).await;
    let small = listed(&app, &token, "flan-t5/flan-t5-small").await;
    assert_eq!(small["available"], false);
    assert!(
        small["reason"].as_str().unwrap().contains("could not be reached"),
        "{small}"
    );

    // A function that answers nonsense, then (asked again: failures are not kept) that it is loaded.
    let lambda = FakeServer::start().await;
    lambda.answer([
        Answer::json(200, &json!({"something": "else"})),
        Answer::json(200, &json!({"status": {}})),
    ]);
    let (app, token) = inference_app(&lambda.url).await;
    let small = listed(&app, &token, "flan-t5/flan-t5-small").await;
    assert_eq!(small["available"], false);
    assert!(small["reason"].as_str().unwrap().contains("unreadable"), "{small}");
    let small = listed(&app, &token, "flan-t5/flan-t5-small").await;
    assert_eq!(small["available"], true, "{small}");
    assert_eq!(status_asks(&lambda).len(), 2);
}

/// What Secrets Manager answers for a secret that does not exist (yet).
fn no_such_secret() -> Answer {
    Answer::json(
        400,
        &json!({"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."}),
    )
}

fn secret_holding(value: &str) -> Answer {
    Answer::json(200, &json!({"Name": "chatbot/keys", "SecretString": value}))
}

/// `POST /api/chats/` with `content`, whatever the answer.
async fn send(app: &TestApp, token: &str, content: &str) -> chatbot_tests::TestResponse {
    app.call("POST", "/api/chats/", Some(token), Some(json!({ "content": content })))
        .await
}

/// A chat through the OpenAI provider, whose key must come from the secret.
async fn openai_app(secrets: &FakeServer, openai: &FakeServer) -> TestApp {
    let aws = SharedAws::with(sdk_config_at(&secrets.url).await);
    let vars = [
        ("SECRET_ID", "chatbot/keys"),
        ("OPENAI_BASE_URL", openai.url.as_str()),
        ("DEFAULT_PROVIDER", "openai"),
        ("DEFAULT_MODEL", "gpt-4o-mini"),
    ];
    TestApp::from_config(&vars, aws).await
}

#[tokio::test]
async fn a_secret_created_after_start_is_used_by_a_later_chat_without_a_restart() {
    let (secrets, openai) = (FakeServer::start().await, FakeServer::start().await);
    openai.answer([wire::openai_completion("Hello there", 3, 2)]);
    // The secret does not exist at first; then the operator creates it.
    secrets.answer([no_such_secret(), secret_holding(r#"{"OPENAI_API_KEY": "sk-late"}"#)]);
    let app = openai_app(&secrets, &openai).await;
    let token = app.register("alice").await;
    assert_eq!(
        assert_error(&send(&app, &token, "first").await, 503),
        "provider_unavailable"
    );
    assert_eq!(secret_reads(&secrets), 1);
    // Asked again at once: not read again (a missing secret is not read per request).
    assert_eq!(
        assert_error(&send(&app, &token, "second").await, 503),
        "provider_unavailable"
    );
    assert_eq!(secret_reads(&secrets), 1);
    // After the first pause the next chat reads it again and succeeds.
    tokio::time::sleep(chatbot_core::secrets::FIRST_RETRY).await;
    let healed = send(&app, &token, "third").await;
    assert_eq!(healed.status, 200, "{}", healed.text);
    assert_eq!(healed.body["reply"]["Bot"], "Hello there");
    assert_eq!(secret_reads(&secrets), 2);
    // Cached from then on.
    assert_eq!(send(&app, &token, "fourth").await.status, 200);
    assert_eq!(secret_reads(&secrets), 2);
}

#[tokio::test]
async fn a_key_put_into_the_empty_secret_after_deploy_is_found() {
    // The template creates the secret as `{}`; the operator puts the key in later.
    let (secrets, openai) = (FakeServer::start().await, FakeServer::start().await);
    openai.answer([wire::openai_completion("Hello there", 3, 2)]);
    secrets.answer([secret_holding("{}"), secret_holding(r#"{"OPENAI_API_KEY": "sk-put"}"#)]);
    let app = openai_app(&secrets, &openai).await;
    let token = app.register("alice").await;
    assert_eq!(
        assert_error(&send(&app, &token, "hi").await, 503),
        "provider_unavailable"
    );
    tokio::time::sleep(chatbot_core::secrets::FIRST_RETRY).await;
    let later = send(&app, &token, "hi again").await;
    assert_eq!(later.status, 200, "{}", later.text);
    let auth = &openai.recorded()[0].headers["authorization"];
    assert_eq!(auth, "Bearer sk-put");
    assert_eq!(secret_reads(&secrets), 2);
}

/// The cursor key is no environment value in AWS: a listing function reads it from
/// its secret when it first pages a list, once, and signs cursors with it.
#[tokio::test]
async fn the_cursor_key_is_read_from_its_secret_when_a_list_is_first_paged() {
    use chatbot_core::config::CursorKey;
    use chatbot_core::http::cursor::{CursorScope, List};
    let secrets = FakeServer::start().await;
    let key = "c".repeat(40);
    secrets.answer([secret_holding(&json!({ "CURSOR_KEY": key }).to_string())]);
    let aws = SharedAws::with(sdk_config_at(&secrets.url).await);
    let app = TestApp::from_config(&[("CURSOR_KEY_SECRET_ID", "chatbot/cursor")], aws).await;
    let token = app.register("alice").await;
    for _ in 0..3 {
        assert_eq!(
            app.call("POST", "/chat/threads/new/", Some(&token), None).await.status,
            201
        );
    }
    assert_eq!(app.call("GET", "/api/me/", Some(&token), None).await.status, 200);
    assert_eq!(secret_reads(&secrets), 0, "nothing paged yet: nothing read");
    let first = app.call("GET", "/api/chats/?limit=2", Some(&token), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let next = first.next_url().expect("a next page").to_string();
    let cursor = next.split("cursor=").nth(1).unwrap();
    let user_id = app.call("GET", "/api/me/", Some(&token), None).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let scope = CursorScope {
        key: &CursorKey::new(key.into_bytes()),
        user_id,
        list: List::Chats,
    };
    assert!(scope.decode(cursor).is_ok(), "signed with the secret's key");
    let second = app.call("GET", &next, Some(&token), None).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body.as_array().unwrap().len(), 1);
    assert_eq!(secret_reads(&secrets), 1, "read once per container");
}

#[tokio::test]
async fn an_unreadable_cursor_key_is_a_503_that_names_nothing_internal() {
    let secrets = FakeServer::start().await;
    secrets.answer([no_such_secret()]);
    let aws = SharedAws::with(sdk_config_at(&secrets.url).await);
    let app = TestApp::from_config(&[("CURSOR_KEY_SECRET_ID", "chatbot/cursor")], aws).await;
    let token = app.register("alice").await;
    let refused = app.call("GET", "/chat/threads/", Some(&token), None).await;
    assert_eq!(assert_error(&refused, 503), "temporarily_unavailable");
    assert_eq!(refused.header("retry-after"), Some("60"));
    for internal in ["CURSOR", "chatbot/cursor", "secret", "Secret"] {
        assert!(!refused.text.contains(internal), "{internal}: {}", refused.text);
    }
    // A route that pages nothing is not affected.
    assert_eq!(app.call("GET", "/api/me/", Some(&token), None).await.status, 200);
}
