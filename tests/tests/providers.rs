//! Gemini, OpenAI and Ollama through the public API, each against a fake server on
//! loopback that speaks the provider's wire format: normal and streamed answers,
//! errors, retries, slow and malformed answers, streams cut off mid-way.

use chatbot_core::llm::keys::{KeyStore, StaticKeys};
use chatbot_core::llm::remote::{gemini::Gemini, ollama::Ollama, openai::OpenAi};
use chatbot_core::llm::{Chunk, GenerateRequest, Provider, Turn};
use chatbot_tests::fake_http::{Answer, FakeServer};
use chatbot_tests::{assert_error, wire, TestApp};
use futures::StreamExt;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn keys() -> Arc<dyn KeyStore> {
    Arc::new(StaticKeys::new(HashMap::from([
        ("OPENAI_API_KEY".to_string(), "sk-test-openai".to_string()),
        ("GEMINI_API_KEY".to_string(), "gm-test-gemini".to_string()),
    ])))
}

const TIMEOUT: Duration = Duration::from_secs(2);

async fn app_with(provider: Arc<dyn Provider>) -> (TestApp, String) {
    let app = TestApp::new().await.with_provider(provider);
    let token = app.register("alice").await;
    (app, token)
}

async fn send(app: &TestApp, token: &str, provider: &str, content: &str) -> chatbot_tests::TestResponse {
    app.call(
        "POST",
        "/api/chats/",
        Some(token),
        Some(json!({"content": content, "provider": provider})),
    )
    .await
}

fn request(model: &str) -> GenerateRequest {
    GenerateRequest {
        model: model.into(),
        turns: vec![Turn::user("hi")],
        max_new_tokens: None,
    }
}

async fn collect(stream: chatbot_core::llm::ChunkStream) -> (String, Vec<Chunk>, Option<String>) {
    let items: Vec<_> = stream.collect().await;
    let mut text = String::new();
    let mut chunks = Vec::new();
    let mut error = None;
    for item in items {
        match item {
            Ok(Chunk::Text(t)) => {
                text.push_str(&t);
                chunks.push(Chunk::Text(t));
            }
            Ok(other) => chunks.push(other),
            Err(err) => error = Some(err.to_string()),
        }
    }
    (text, chunks, error)
}

#[tokio::test]
async fn openai_answers_through_the_api_with_its_roles_key_and_usage() {
    let server = FakeServer::start().await;
    server.answer([wire::openai_completion("Hello from OpenAI", 12, 4)]);
    let provider = Arc::new(OpenAi::new(&server.url, vec!["gpt-4o-mini".into()], keys(), TIMEOUT));
    let (app, token) = app_with(provider).await;
    let first = send(&app, &token, "openai", "first").await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["reply"]["Bot"], "Hello from OpenAI");
    assert_eq!(
        first.body["reply"]["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 4})
    );
    send(&app, &token, "openai", "second").await;
    let requests = server.recorded();
    let last = requests.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("POST", "/chat/completions")
    );
    assert_eq!(last.headers["authorization"], "Bearer sk-test-openai");
    assert_eq!(last.body["model"], "gpt-4o-mini");
    let roles: Vec<&str> = last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(last.body["messages"][2]["content"], "second");
}

#[tokio::test]
async fn gemini_answers_through_the_api() {
    let server = FakeServer::start().await;
    server.answer([wire::gemini_response("Hello from Gemini", 7, 3)]);
    let provider = Arc::new(Gemini::new(
        &server.url,
        vec!["gemini-1.5-flash".into()],
        keys(),
        TIMEOUT,
    ));
    let (app, token) = app_with(provider).await;
    send(&app, &token, "gemini", "first").await;
    let second = send(&app, &token, "gemini", "second").await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["reply"]["Bot"], "Hello from Gemini");
    assert_eq!(
        second.body["reply"]["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 3})
    );
    let last = server.recorded().pop().unwrap();
    assert_eq!(last.path, "/v1beta/models/gemini-1.5-flash:generateContent");
    assert_eq!(last.headers["x-goog-api-key"], "gm-test-gemini");
    let roles: Vec<&str> = last.body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "model", "user"]);
}

#[tokio::test]
async fn ollama_answers_through_the_api() {
    let server = FakeServer::start().await;
    server.answer([wire::ollama_reply("Hello from Ollama", 5, 2)]);
    let provider = Arc::new(Ollama::new(Some(server.url.clone()), vec!["llama3".into()], TIMEOUT));
    let (app, token) = app_with(provider).await;
    let sent = send(&app, &token, "ollama", "hi").await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert_eq!(sent.body["reply"]["Bot"], "Hello from Ollama");
    let last = server.recorded().pop().unwrap();
    assert_eq!(
        (last.path.as_str(), last.body["stream"].as_bool()),
        ("/api/chat", Some(false))
    );
    assert!(!last.headers.contains_key("authorization"));
}

#[tokio::test]
async fn transient_failures_are_retried_and_then_reported() {
    let server = FakeServer::start().await;
    // Two failures, then success: three attempts fit.
    server.answer([
        wire::openai_error(500, "oops"),
        wire::openai_error(429, "slow down").with_header("retry-after", "0"),
        wire::openai_completion("third time", 1, 2),
    ]);
    let provider = Arc::new(OpenAi::new(&server.url, vec!["gpt-4o-mini".into()], keys(), TIMEOUT));
    let (app, token) = app_with(provider).await;
    let sent = send(&app, &token, "openai", "hi").await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert_eq!(server.recorded().len(), 3 + 1, "three reply attempts, one title");
    // Always failing: 502 after the bounded attempts, nothing charged.
    server.answer([wire::openai_error(500, "still broken")]);
    let before = server.recorded().len();
    let failed = send(&app, &token, "openai", "again").await;
    assert_eq!(assert_error(&failed, 502), "provider_failed");
    assert_eq!(server.recorded().len() - before, 3);
    assert!(
        !failed.text.contains("still broken"),
        "the provider's own text is not passed on"
    );
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["requests"],
        1
    );
}

#[tokio::test]
async fn errors_map_to_502_503_504() {
    let server = FakeServer::start().await;
    let provider = Arc::new(Gemini::new(
        &server.url,
        vec!["gemini-1.5-flash".into()],
        keys(),
        TIMEOUT,
    ));
    let (app, token) = app_with(provider).await;
    let cases = [
        (wire::gemini_error(401, "UNAUTHENTICATED"), 502),
        (wire::gemini_error(400, "INVALID_ARGUMENT"), 502),
        (
            wire::gemini_error(429, "RESOURCE_EXHAUSTED").with_header("retry-after", "3600"),
            503,
        ),
        (wire::gemini_error(503, "UNAVAILABLE"), 503),
        (wire::gemini_response("late", 1, 1).after(Duration::from_secs(4)), 504),
        (Answer::json(200, &json!({"unexpected": true})), 502),
        (
            Answer::json(200, &json!({"promptFeedback": {"blockReason": "SAFETY"}})),
            502,
        ),
        (wire::gemini_response("cut", 1, 1).truncated(20), 502),
    ];
    for (answer, status) in cases {
        server.answer([answer.clone()]);
        let response = send(&app, &token, "gemini", "hi").await;
        assert_error(&response, status);
        assert!(response.body["message_id"].is_string(), "{answer:?}");
        assert!(!response.text.contains("gm-test-gemini"), "the key never appears");
    }
    assert_eq!(
        app.call("GET", "/api/tokens/", Some(&token), None).await.body["requests"],
        0
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_503() {
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let provider = Arc::new(Ollama::new(
        Some(format!("http://127.0.0.1:{port}")),
        vec!["llama3".into()],
        TIMEOUT,
    ));
    let (app, token) = app_with(provider).await;
    assert_eq!(
        assert_error(&send(&app, &token, "ollama", "hi").await, 503),
        "provider_unavailable"
    );
}

#[tokio::test]
async fn providers_without_keys_are_listed_unavailable_and_answer_503() {
    let none: Arc<dyn KeyStore> = Arc::new(StaticKeys::new(HashMap::new()));
    let app = TestApp::new()
        .await
        .with_provider(Arc::new(OpenAi::new(
            "http://127.0.0.1:9",
            vec!["gpt-4o-mini".into()],
            none.clone(),
            TIMEOUT,
        )))
        .with_provider(Arc::new(Gemini::new(
            "http://127.0.0.1:9",
            vec!["gemini-1.5-flash".into()],
            none,
            TIMEOUT,
        )))
        .with_provider(Arc::new(Ollama::new(None, vec!["llama3".into()], TIMEOUT)));
    let token = app.register("alice").await;
    let models = app.call("GET", "/api/models/", Some(&token), None).await.body;
    for id in ["openai/gpt-4o-mini", "gemini/gemini-1.5-flash", "ollama/llama3"] {
        let model = models.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap();
        assert_eq!(model["available"], false, "{id}");
    }
    let response = send(&app, &token, "openai", "hi").await;
    assert_eq!(assert_error(&response, 503), "provider_unavailable");
    assert_eq!(
        response.body["error"], "OpenAI is not configured on this server.",
        "the setting is named in the log only"
    );
}

#[tokio::test]
async fn a_rejected_key_is_read_again_once() {
    struct Rotating(std::sync::Mutex<&'static str>);
    #[async_trait::async_trait]
    impl KeyStore for Rotating {
        async fn get(&self, _: &str) -> Option<String> {
            Some(self.0.lock().unwrap().to_string())
        }
        async fn refresh(&self) {
            *self.0.lock().unwrap() = "new-key";
        }
    }
    let server = FakeServer::start().await;
    server.answer([wire::openai_error(401, "bad key"), wire::openai_completion("ok", 1, 1)]);
    let provider = OpenAi::new(
        &server.url,
        vec!["gpt-4o-mini".into()],
        Arc::new(Rotating("old-key".into())),
        TIMEOUT,
    );
    let generation = provider.generate(request("gpt-4o-mini")).await.unwrap();
    assert_eq!(generation.text, "ok");
    let auth: Vec<String> = server
        .recorded()
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(auth, ["Bearer old-key", "Bearer new-key"]);
}

#[tokio::test]
async fn streams_arrive_in_pieces_with_usage_from_each_provider() {
    let server = FakeServer::start().await;
    server.answer([wire::openai_stream(&["Hel", "lo", "!"], (3, 3))]);
    let openai = OpenAi::new(&server.url, vec!["gpt-4o-mini".into()], keys(), TIMEOUT);
    let (text, chunks, error) = collect(openai.stream(request("gpt-4o-mini")).await.unwrap()).await;
    assert_eq!((text.as_str(), error), ("Hello!", None));
    assert_eq!(chunks.iter().filter(|c| matches!(c, Chunk::Text(_))).count(), 3);
    assert!(chunks.contains(&Chunk::Usage(chatbot_core::llm::Usage {
        prompt_tokens: 3,
        completion_tokens: 3
    })));
    assert_eq!(server.recorded()[0].body["stream"], true);

    server.answer([wire::gemini_stream(&["Good ", "day"], (2, 2))]);
    let gemini = Gemini::new(&server.url, vec!["gemini-1.5-flash".into()], keys(), TIMEOUT);
    let (text, _, error) = collect(gemini.stream(request("gemini-1.5-flash")).await.unwrap()).await;
    assert_eq!((text.as_str(), error), ("Good day", None));
    assert!(server
        .recorded()
        .last()
        .unwrap()
        .path
        .ends_with(":streamGenerateContent?alt=sse"));

    server.answer([wire::ollama_stream(&["Hi", " there"], (4, 2))]);
    let ollama = Ollama::new(Some(server.url.clone()), vec!["llama3".into()], TIMEOUT);
    let (text, chunks, error) = collect(ollama.stream(request("llama3")).await.unwrap()).await;
    assert_eq!((text.as_str(), error), ("Hi there", None));
    assert_eq!(
        chunks.last(),
        Some(&Chunk::Usage(chatbot_core::llm::Usage {
            prompt_tokens: 4,
            completion_tokens: 2
        }))
    );
}

#[tokio::test]
async fn a_stream_cut_off_mid_way_ends_with_an_error_after_the_pieces_it_had() {
    let server = FakeServer::start().await;
    let mut cut = wire::openai_stream(&["Hel", "lo"], (1, 1));
    // Drop the usage line and [DONE], then hang up.
    cut.parts.truncate(4);
    cut.parts.push(chatbot_tests::fake_http::Part::Cut);
    server.answer([cut]);
    let openai = OpenAi::new(&server.url, vec!["gpt-4o-mini".into()], keys(), TIMEOUT);
    let (text, _, error) = collect(openai.stream(request("gpt-4o-mini")).await.unwrap()).await;
    assert_eq!(text, "Hello");
    assert!(error.unwrap().contains("early"));

    let mut garbled = wire::ollama_stream(&["Hi"], (1, 1));
    garbled
        .parts
        .insert(2, chatbot_tests::fake_http::Part::Bytes(b"{not json\n".to_vec()));
    server.answer([garbled]);
    let ollama = Ollama::new(Some(server.url.clone()), vec!["llama3".into()], TIMEOUT);
    let (text, _, error) = collect(ollama.stream(request("llama3")).await.unwrap()).await;
    assert_eq!(text, "Hi");
    assert!(error.is_some());
}

/// The reply requests a provider received (not the titles), as recorded.
fn reply_bodies(server: &FakeServer, last_text: impl Fn(&serde_json::Value) -> String) -> Vec<serde_json::Value> {
    server
        .recorded()
        .into_iter()
        .map(|r| r.body)
        .filter(|body| !last_text(body).starts_with("Write a title"))
        .collect()
}

fn last_message(body: &serde_json::Value) -> String {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    messages
        .last()
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_route_sends_max_reply_tokens_to_the_model_and_clamps_what_a_client_asks() {
    let server = FakeServer::start().await;
    // One JSON object: a whole answer, and a stream of one line.
    server.answer([wire::ollama_reply("Bounded.", 3, 1)]);
    let provider = Arc::new(Ollama::new(Some(server.url.clone()), vec!["llama3".into()], TIMEOUT));
    let app = TestApp::with_vars(&[("MAX_REPLY_TOKENS", "77")])
        .await
        .with_provider(provider);
    let token = app.register("alice").await;
    let ollama = json!({"provider": "ollama"});
    let with = |mut body: serde_json::Value| {
        body.as_object_mut()
            .unwrap()
            .extend(ollama.as_object().unwrap().clone());
        Some(body)
    };
    let t = Some(token.as_str());
    // Every route that asks the model for a reply, each dialect's included.
    let sent = app
        .call("POST", "/api/chats/", t, with(json!({"content": "one"})))
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let chat_id = sent.body["chat_id"].as_str().unwrap().to_string();
    let question = sent.body["reply"]["message_id"].as_str().unwrap().to_string();
    let streamed = app
        .call(
            "POST",
            "/api/chats/stream/",
            t,
            with(json!({"content": "two", "chat_id": chat_id})),
        )
        .await;
    assert!(streamed.text.contains("event: done"), "{}", streamed.text);
    let regenerated = app
        .call("POST", &format!("/api/chats/{chat_id}/regenerate/"), t, with(json!({})))
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text);
    let edited = app
        .call(
            "PATCH",
            &format!("/api/chats/{chat_id}/messages/{question}/"),
            t,
            with(json!({"content": "one again", "regenerate": true})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let b = app
        .call("POST", "/api/chat/", t, with(json!({"message": "three"})))
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    let b_again = app
        .call(
            "POST",
            "/api/chat/regenerate/",
            t,
            with(json!({"conversation_id": b.body["conversation_id"]})),
        )
        .await;
    assert_eq!(b_again.status, 200, "{}", b_again.text);
    let thread = app.call("POST", "/chat/threads/new/", t, None).await.body["thread_id"].clone();
    let e = app
        .call(
            "POST",
            &format!("/chat/response/{thread}/"),
            t,
            with(json!({"message": "user: four"})),
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.text);
    let e_stream = app
        .call(
            "POST",
            &format!("/chat/streaming-response/{thread}/"),
            t,
            with(json!({"message": "user: five"})),
        )
        .await;
    assert_eq!(e_stream.text, "Bounded.");
    let v1 = |extra: serde_json::Value| {
        let mut body = json!({"model": "ollama/llama3", "messages": [{"role": "user", "content": "six"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        app.call("POST", "/v1/chat/completions", t, Some(body))
    };
    assert_eq!(v1(json!({})).await.status, 200);
    assert_eq!(v1(json!({"stream": true})).await.status, 200);
    let routes = 10;
    let bounds: Vec<_> = reply_bodies(&server, last_message)
        .iter()
        .map(|body| body["options"]["num_predict"].clone())
        .collect();
    assert_eq!(
        bounds,
        vec![json!(77); routes],
        "every reply is bounded by MAX_REPLY_TOKENS"
    );

    // A client's own cap: kept below MAX_REPLY_TOKENS, clamped above it.
    for (field, asked, sent) in [
        ("max_tokens", 20, 20),
        ("max_tokens", 5000, 77),
        ("max_completion_tokens", 1_000_000, 77),
    ] {
        let answered = v1(json!({ field: asked })).await;
        assert_eq!(answered.status, 200, "{field}={asked}: {}", answered.text);
        let last = reply_bodies(&server, last_message).pop().unwrap();
        assert_eq!(last["options"]["num_predict"], sent, "{field}={asked}");
    }
}

#[tokio::test]
async fn openai_and_gemini_receive_max_reply_tokens_on_their_own_routes() {
    let server = FakeServer::start().await;
    let app = TestApp::with_vars(&[("MAX_REPLY_TOKENS", "33")])
        .await
        .with_provider(Arc::new(OpenAi::new(
            &server.url,
            vec!["gpt-4o-mini".into()],
            keys(),
            TIMEOUT,
        )))
        .with_provider(Arc::new(Gemini::new(
            &server.url,
            vec!["gemini-1.5-flash".into()],
            keys(),
            TIMEOUT,
        )));
    let token = app.register("alice").await;
    // Dialect D's routes fix the provider.
    server.answer([wire::openai_completion("From OpenAI", 2, 2)]);
    let gpt = app
        .call("POST", "/prompt_gpt/", Some(&token), Some(json!({"content": "hi"})))
        .await;
    assert_eq!(gpt.status, 201, "{}", gpt.text);
    let openai = reply_bodies(&server, last_message).pop().unwrap();
    assert_eq!(openai["max_completion_tokens"], 33);
    assert!(openai.get("max_tokens").is_none());

    server.answer([wire::gemini_response("From Gemini", 2, 2)]);
    let gemini = app
        .call("POST", "/prompt_gemini/", Some(&token), Some(json!({"content": "hi"})))
        .await;
    assert_eq!(gemini.status, 201, "{}", gemini.text);
    let gemini_text = |body: &serde_json::Value| {
        let contents = body["contents"].as_array().cloned().unwrap_or_default();
        let last = contents.last().cloned().unwrap_or_default();
        last["parts"][0]["text"].as_str().unwrap_or("").to_string()
    };
    let recorded = reply_bodies(&server, gemini_text);
    let gemini_body = recorded.iter().rev().find(|b| b.get("contents").is_some()).unwrap();
    assert_eq!(gemini_body["generationConfig"]["maxOutputTokens"], 33);
}

#[tokio::test]
async fn flan_t5_is_sent_max_reply_tokens_in_process_and_through_the_inference_function() {
    use chatbot_core::llm::flan_t5;
    use chatbot_core::llm::invoke::RemoteFlanT5;
    // In process: the tiny engine stops at the bound.
    let vars = [
        ("DEFAULT_PROVIDER", "flan-t5"),
        ("DEFAULT_MODEL", "flan-t5-small"),
        ("FLAN_T5_MODEL", "google/flan-t5-small"),
    ];
    let engine = flan_t5::load(
        Some(&chatbot_tests::tiny_flan_t5_dir()),
        "google/flan-t5-small",
        Default::default(),
    )
    .await;
    let unbounded = TestApp::with_vars(&vars).await.with_provider(engine.clone());
    let token = unbounded.register("alice").await;
    let long = unbounded.chat(&token, "Tell me everything about the sea.").await;
    let written = long["reply"]["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(
        written > 3,
        "the tiny model writes more than the bound below: {written}"
    );
    let bounded = TestApp::with_vars(&[vars[0], vars[1], vars[2], ("MAX_REPLY_TOKENS", "3")])
        .await
        .with_provider(engine);
    let token = bounded.register("alice").await;
    let short = bounded.chat(&token, "Tell me everything about the sea.").await;
    assert_eq!(short["reply"]["usage"]["completion_tokens"], 3, "{short}");

    // Through the inference function: the bound travels in the Invoke payload.
    let lambda = FakeServer::start().await;
    lambda.answer([Answer::json(
        200,
        &json!({"generated": {"text": "Paris.", "prompt_tokens": 9, "completion_tokens": 2}}),
    )]);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&lambda.url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "chatbot-tests",
        ))
        .load()
        .await;
    let remote = RemoteFlanT5::new(
        chatbot_core::aws::SharedAws::with(sdk),
        "flan-t5-inference",
        "google/flan-t5-small",
        TIMEOUT,
    );
    for (asked, sent) in [(Some(12), 12), (None, chatbot_core::llm::DEFAULT_MAX_REPLY_TOKENS)] {
        let mut request = request("flan-t5-small");
        request.max_new_tokens = asked;
        remote.generate(request).await.unwrap();
        assert_eq!(lambda.recorded().pop().unwrap().body["max_new_tokens"], sent);
    }
}
