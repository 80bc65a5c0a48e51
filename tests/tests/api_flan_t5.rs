//! Flan-T5 through the API: the real engine (on the tiny fixture model) answers
//! chats, titles them and counts tokens, exactly as it does when used directly.

use ::flan_t5::prompt::{render_chat, Turn};
use ::flan_t5::{Engine, GenerateOptions};
use chatbot_core::llm::flan_t5;
use chatbot_tests::{assert_error, tiny_flan_t5_dir, TestApp};
use serde_json::json;

async fn app() -> TestApp {
    let vars = [
        ("DEFAULT_PROVIDER", "flan-t5"),
        ("DEFAULT_MODEL", "flan-t5-small"),
        ("FLAN_T5_MODEL", "google/flan-t5-small"),
    ];
    let provider = flan_t5::load(Some(&tiny_flan_t5_dir()), "google/flan-t5-small", Default::default()).await;
    assert!(provider.is_available().await, "the tiny model loads");
    TestApp::with_vars(&vars).await.with_provider(provider)
}

#[tokio::test]
async fn a_chat_is_answered_by_the_engine_in_process() {
    let app = app().await;
    let token = app.register("alice").await;
    let sent = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "What is the capital of France?"})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let reply = &sent.body["reply"];
    assert_eq!(
        (reply["provider"].as_str(), reply["model"].as_str()),
        (Some("flan-t5"), Some("flan-t5-small"))
    );

    // The same prompt through the engine directly gives the same text and counts.
    let engine = Engine::load(&tiny_flan_t5_dir()).unwrap();
    let prompt = render_chat(&[Turn::user("What is the capital of France?")], 512, |t| {
        engine.count_tokens(t)
    })
    .unwrap();
    let direct = engine.generate(&prompt.text, &GenerateOptions::default()).unwrap();
    assert_eq!(reply["Bot"].as_str().unwrap(), direct.text.trim());
    assert_eq!(
        reply["usage"]["prompt_tokens"].as_u64().unwrap() as usize,
        direct.prompt_tokens
    );
    assert_eq!(
        reply["usage"]["completion_tokens"].as_u64().unwrap() as usize,
        direct.completion_tokens
    );
    let title = sent.body["title"].as_str().unwrap();
    assert!(!title.is_empty() && title.split_whitespace().count() <= 5, "{title:?}");

    // A second turn carries the first as context and is answered too.
    let again = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "And of Spain?"})),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["conversation"].as_array().unwrap().len(), 2);
    assert!(again.body["reply"]["usage"]["prompt_tokens"].as_u64() > reply["usage"]["prompt_tokens"].as_u64());
}

#[tokio::test]
async fn only_the_loaded_size_is_available() {
    let app = app().await;
    let token = app.register("alice").await;
    let models = app.call("GET", "/api/models/", Some(&token), None).await.body;
    let available =
        |id: &str| models.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap()["available"].as_bool();
    assert_eq!(available("flan-t5/flan-t5-small"), Some(true));
    assert_eq!(available("flan-t5/flan-t5-base"), Some(false));
    let other = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "hi", "model": "flan-t5-large"})),
        )
        .await;
    assert_eq!(assert_error(&other, 503), "provider_unavailable");
    assert_eq!(
        other.body["error"], "flan-t5-large is not available here: this server runs flan-t5-small.",
        "what runs, but no setting named to users"
    );
    let large = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "flan-t5/flan-t5-large")
        .unwrap();
    assert_eq!(large["reason"], other.body["error"], "the list says what the call says");
    let small = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "flan-t5/flan-t5-small");
    assert_eq!(small.unwrap()["reason"], json!(null));
}

#[tokio::test]
async fn flan_t5_streams_token_by_token_and_says_the_same_as_whole() {
    let app = app().await;
    let token = app.register("alice").await;
    let whole = app
        .call(
            "POST",
            "/api/chats/",
            Some(&token),
            Some(json!({"content": "Tell me a story"})),
        )
        .await;
    let expected = whole.body["reply"]["Bot"].as_str().unwrap().to_string();
    app.end_session(&token).await;
    let streamed = app
        .call(
            "POST",
            "/api/chats/stream/",
            Some(&token),
            Some(json!({"content": "Tell me a story"})),
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    let events = chatbot_tests::events(&streamed.text);
    let deltas: Vec<String> = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("delta"))
        .map(|e| e.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert!(deltas.len() > 1, "pieces as they are decoded: {deltas:?}");
    // The pieces join to exactly the whole reply (trimmed at both ends), and
    // the stored reply is that same text.
    assert_eq!(deltas.concat(), expected);
    let done = events.last().unwrap();
    assert_eq!(done.name.as_deref(), Some("done"));
    assert_eq!(done.json()["usage"], whole.body["reply"]["usage"]);
    let chat_id = done.json()["chat_id"].as_str().unwrap().to_string();
    let stored = app
        .call("GET", &format!("/api/chats/{chat_id}/messages/"), Some(&token), None)
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let replies: Vec<&str> = stored
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(replies, [expected.as_str()], "{}", stored.text);
}

/// The provider on its own engine, and that engine: the test watches the engine's
/// holders to see when a generation has really ended.
fn provider_and_engine() -> (flan_t5::FlanT5, std::sync::Arc<Engine>) {
    let engine = std::sync::Arc::new(Engine::load(&tiny_flan_t5_dir()).unwrap());
    (flan_t5::FlanT5::new(engine.clone(), "flan-t5-small".into()), engine)
}

/// Waits until only the provider and the test hold the engine, i.e. the blocking
/// generation has returned. The bound is a liveness guard against a hang (a run to
/// the requested length takes far longer: its cache grows with every step), not a
/// timing claim.
async fn generation_ends(engine: &std::sync::Arc<Engine>) {
    for _ in 0..3000 {
        if std::sync::Arc::strong_count(engine) == 2 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the abandoned generation was still running");
}

fn endless() -> chatbot_core::llm::GenerateRequest {
    chatbot_core::llm::GenerateRequest {
        model: "flan-t5-small".into(),
        turns: vec![chatbot_core::llm::Turn::user("What is the capital of France?")],
        // Far more steps than anyone waits for.
        max_new_tokens: Some(1_000_000),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_nobody_waits_for_stops_within_a_step() {
    use chatbot_core::llm::Provider;
    let (provider, engine) = provider_and_engine();
    // The request's deadline passes: the future is dropped.
    // 1 ms: the engine's ceiling of 256 steps takes the tiny model far longer.
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(1), provider.generate(endless())).await;
    assert!(gave_up.is_err(), "a million steps cannot be done yet");
    generation_ends(&engine).await;

    // Streaming: the client reads one piece and leaves.
    use futures::StreamExt;
    let mut chunks = provider.stream(endless()).await.unwrap();
    assert!(chunks.next().await.is_some());
    drop(chunks);
    generation_ends(&engine).await;
}
