//! Test support shared by the cross-crate suites: an in-process copy of the API
//! behind the real route table, and a scripted model provider.
//!
//! Requests enter as API Gateway HTTP API (v2) events parsed by `lambda_http`
//! itself, exactly as a deployed function receives them, and leave through the same
//! `routes::handle` every function runs. This exercises everything but the Lambda
//! runtime loop, at in-process speed, which is what lets the suite cover every route
//! and error path in seconds.

pub mod contract;
pub mod dynamodb;
pub mod fake_http;
pub mod fault_proxy;
pub mod fuzz;
pub mod provider;
pub mod wire;

use chatbot_core::config::Config;
use chatbot_core::llm::flan_t5::FlanT5Unavailable;
use chatbot_core::llm::{Dispatch, Provider};
use chatbot_core::routes::{handle, Serve};
use chatbot_core::state::AppState;
use chatbot_core::store::sqlite::SqliteStore;
use chatbot_core::store::Store;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use lambda_http::Body;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use provider::{Behaviour, ScriptedAs, ScriptedProvider};

pub struct TestApp {
    pub state: AppState,
    pub provider: Arc<ScriptedProvider>,
    clock: Arc<Mutex<Option<DateTime<Utc>>>>,
    _dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next page's URL from `Link: <…>; rel="next"`, if there is one.
    pub fn next_url(&self) -> Option<&str> {
        let link = self.header("link")?;
        link.trim_start_matches('<').split('>').next()
    }

    /// Every `Set-Cookie` of the answer.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    }
}

/// The store the API suites run on: `TEST_STORE=dynamodb` (a fresh table on the
/// local endpoint per app, see `dynamodb`), else a fresh SQLite file.
pub fn test_store() -> &'static str {
    match std::env::var("TEST_STORE").unwrap_or_default().trim() {
        "" | "sqlite" => "sqlite",
        "dynamodb" => "dynamodb",
        other => panic!("TEST_STORE={other:?}: expected sqlite or dynamodb"),
    }
}

/// Settings for tests: the scripted provider is the default model.
pub fn test_vars() -> HashMap<String, String> {
    HashMap::from([
        ("DEFAULT_PROVIDER".into(), "scripted".into()),
        ("DEFAULT_MODEL".into(), "echo".into()),
    ])
}

impl TestApp {
    /// The API on a fresh store (see `test_store`) with default settings.
    pub async fn new() -> Self {
        Self::with_vars(&[]).await
    }

    /// The API with some settings changed, e.g. `[("INITIAL_TOKENS", "500")]`.
    pub async fn with_vars(vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = match test_store() {
            "dynamodb" => Arc::new(dynamodb::fresh_store().await),
            _ => Arc::new(SqliteStore::open(&dir.path().join("test.sqlite3")).expect("open SQLite")),
        };
        Self::with_store(store, vars, dir)
    }

    pub fn with_store(store: Arc<dyn Store>, vars: &[(&str, &str)], dir: tempfile::TempDir) -> Self {
        let mut settings = test_vars();
        for (k, v) in vars {
            settings.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_vars(settings).expect("valid test settings");
        let provider = Arc::new(ScriptedProvider::new());
        let providers: Vec<Arc<dyn Provider>> = vec![
            provider.clone(),
            Arc::new(FlanT5Unavailable::new(
                "Flan-T5 weights are not installed: set FLAN_T5_DIR.",
            )),
        ];
        let llm = Dispatch::new(providers, &config.default_provider, &config.default_model);
        let clock: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::new(Mutex::new(None));
        let read = clock.clone();
        let state = AppState::new(config, store, llm)
            .with_clock(Arc::new(move || read.lock().unwrap().unwrap_or_else(Utc::now)));
        Self {
            state,
            provider,
            clock,
            _dir: dir,
        }
    }

    /// The API on a state built elsewhere (e.g. by `AppState::from_config`), as is:
    /// its store, providers and clock.
    pub fn from_state(state: AppState) -> Self {
        Self {
            state,
            provider: Arc::new(ScriptedProvider::new()),
            clock: Arc::new(Mutex::new(None)),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The API running on the state `AppState::from_config_with` builds, as a
    /// function does on start, from `vars` (SQLite in a fresh folder) and `aws`.
    pub async fn from_config(vars: &[(&str, &str)], aws: chatbot_core::aws::SharedAws) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        settings.insert("STORE".into(), "sqlite".into());
        settings.insert(
            "SQLITE_PATH".into(),
            dir.path().join("start.sqlite3").display().to_string(),
        );
        let config = Config::from_vars(settings).expect("valid test settings");
        let state = AppState::from_config_with(config, aws).await.expect("the state builds");
        Self {
            _dir: dir,
            ..Self::from_state(state)
        }
    }

    /// Freezes the API's clock at `now` (`None`: the wall clock again).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        *self.clock.lock().unwrap() = now;
    }

    /// Sends a request with a JSON body (or none).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
        let mut headers = HashMap::new();
        if let Some(token) = token {
            headers.insert("authorization".to_string(), format!("Token {token}"));
        }
        if body.is_some() {
            headers.insert("content-type".to_string(), "application/json".to_string());
        }
        self.send(method, path, headers, body.map(|b| b.to_string()), "198.51.100.7")
            .await
    }

    /// Sends a request with these headers (a browser's `Cookie`, `Origin`, …) and a
    /// JSON body (or none).
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> TestResponse {
        let mut map: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        if body.is_some() {
            map.entry("content-type".into())
                .or_insert_with(|| "application/json".into());
        }
        self.send(method, path, map, body.map(|b| b.to_string()), "198.51.100.7")
            .await
    }

    /// Sends anything: raw headers, a raw body, a chosen client address.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: HashMap<String, String>,
        body: Option<String>,
        source_ip: &str,
    ) -> TestResponse {
        let body = body.map(|text| (text, false));
        self.send_event(method, path_and_query, headers, body, source_ip).await
    }

    /// Sends a body of any bytes, base64-encoded as API Gateway hands over a body
    /// that is not UTF-8 text.
    pub async fn send_bytes(
        &self,
        method: &str,
        path_and_query: &str,
        headers: HashMap<String, String>,
        body: &[u8],
    ) -> TestResponse {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(body);
        self.send_event(method, path_and_query, headers, Some((encoded, true)), "198.51.100.7")
            .await
    }

    /// One API Gateway (v2) event through the in-process router; `body` is the
    /// event's body and whether it is base64.
    async fn send_event(
        &self,
        method: &str,
        path_and_query: &str,
        headers: HashMap<String, String>,
        body: Option<(String, bool)>,
        source_ip: &str,
    ) -> TestResponse {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut headers = headers;
        // API Gateway (v2) hands a request's cookies over apart from its headers.
        let cookies: Option<Vec<String>> = headers
            .remove("cookie")
            .map(|line| line.split(';').map(|c| c.trim().to_string()).collect());
        let (body, is_base64) = match body {
            Some((body, is_base64)) => (Some(body), is_base64),
            None => (None, false),
        };
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": "localhost",
                "domainPrefix": "localhost",
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "tests" },
                "requestId": "test",
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 0
            },
            "body": body,
            "isBase64Encoded": is_base64,
            "cookies": cookies,
        });
        let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
        let response = handle(&self.state, request, Serve::All(chatbot_core::routes::ROUTES)).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.body() {
            Body::Text(text) => text.clone(),
            Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            text,
            body,
        }
    }

    /// Registers `username` (password `password123`) and returns its token.
    pub async fn register(&self, username: &str) -> String {
        let response = self
            .call(
                "POST",
                "/api/register/",
                None,
                Some(json!({"username": username, "password": "password123"})),
            )
            .await;
        assert_eq!(response.status, 201, "register {username}: {}", response.text);
        response.body["token"].as_str().expect("a token").to_string()
    }

    /// Sends `content` to the user's open chat and expects a reply.
    pub async fn chat(&self, token: &str, content: &str) -> Value {
        let response = self
            .call("POST", "/api/chats/", Some(token), Some(json!({ "content": content })))
            .await;
        assert!(
            matches!(response.status, 200 | 201),
            "chat: {} {}",
            response.status,
            response.text
        );
        response.body
    }

    /// Ends the user's open chat (`{"end_session": true}`), so that the next
    /// message starts a new one.
    pub async fn end_session(&self, token: &str) -> TestResponse {
        self.call("POST", "/api/chats/", Some(token), Some(json!({ "end_session": true })))
            .await
    }
}

/// A well-formed share id that names no link.
pub const SOME_SHARE_ID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A route pattern with its parameters filled in: `chat_id`/`session_id`-style
/// UUIDs, a chat number (dialects B and E), and a username.
pub fn concrete_path(pattern: &str, chat_id: &str, message_id: &str, number: i64) -> String {
    pattern
        .replace("{chat_id}", chat_id)
        .replace("{message_id}", message_id)
        .replace("{key_id}", message_id)
        .replace("{share_id}", SOME_SHARE_ID)
        .replace("{username}", "somebody")
        .replace("{conversation_id}", &number.to_string())
        .replace("{id}", &number.to_string())
}

/// Asserts the API.md §1 error shape and returns the code.
pub fn assert_error(response: &TestResponse, status: u16) -> String {
    assert_eq!(response.status, status, "body: {}", response.text);
    assert!(
        response.body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no error sentence: {}",
        response.text
    );
    let code = response.body["code"].as_str().expect("an error code").to_string();
    assert!(
        code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "code not snake_case: {code}"
    );
    code
}

impl TestApp {
    /// Adds OpenAI as a provider (model `gpt-4o-mini`, key `sk-test`) whose API is a
    /// fake server that answers what each test tells it, with `timeout` as the
    /// provider's time limit.
    pub async fn with_fake_openai(self, timeout: std::time::Duration) -> (Self, fake_http::FakeServer) {
        let server = fake_http::FakeServer::start().await;
        let keys = Arc::new(chatbot_core::llm::keys::StaticKeys::new(HashMap::from([(
            "OPENAI_API_KEY".to_string(),
            "sk-test".to_string(),
        )])));
        let provider = Arc::new(chatbot_core::llm::remote::openai::OpenAi::new(
            &server.url,
            vec!["gpt-4o-mini".into()],
            keys,
            timeout,
        ));
        (self.with_provider(provider), server)
    }

    /// Adds `provider` to the app's dispatch, replacing one with the same id.
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        let mut providers = self.state.llm().providers().to_vec();
        providers.retain(|p| p.id() != provider.id());
        providers.push(provider);
        let config = &self.state.config;
        let llm = Dispatch::new(providers, &config.default_provider, &config.default_model);
        self.state = self.state.with_llm(llm);
        self
    }
}

/// The tiny random-weight Flan-T5 the engine's tests ship: the real loading and
/// generation code on a model small enough for every test run.
pub fn tiny_flan_t5_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/flan-t5/tests/fixtures/tiny-t5")
}

/// One server-sent event: its name (`None` for OpenAI's data-only events) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null)
    }
}

/// Splits an event-stream body into its events.
pub fn events(text: &str) -> Vec<Event> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event: ") {
                    name = Some(rest.to_string());
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    data.push(rest);
                }
            }
            Event {
                name,
                data: data.join("\n"),
            }
        })
        .collect()
}

impl TestApp {
    /// Sends a request to a streaming route and hands back the live body, so a test
    /// can read part of it and hang up like a client that leaves.
    pub async fn open_stream(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> http::Response<chatbot_core::http::stream::StreamBody> {
        self.open_stream_with(path, token, body, &[]).await
    }

    /// The same with more headers (e.g. an `Idempotency-Key`).
    pub async fn open_stream_with(
        &self,
        path: &str,
        token: &str,
        body: Value,
        extra: &[(&str, &str)],
    ) -> http::Response<chatbot_core::http::stream::StreamBody> {
        let mut headers = json!({"authorization": format!("Token {token}"), "content-type": "application/json"});
        for (name, value) in extra {
            headers[name.to_ascii_lowercase()] = json!(value);
        }
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": headers,
            "requestContext": {"accountId": "1", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests"},
                "requestId": "test", "routeKey": "$default", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0},
            "body": body.to_string(), "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
        chatbot_core::routes::handle_streaming(&self.state, request, Serve::All(chatbot_core::routes::ROUTES)).await
    }
}

/// The origin dialect E's web client is served from in tests (the default allowed one).
pub const E_CLIENT_ORIGIN: &str = "http://localhost:5173";
/// The password `Browser::sign_up_and_in` registers with.
pub const BROWSER_PASSWORD: &str = "correct horse 42";

/// A browser running dialect E's client: its cookie jar's `sessionid`, and the
/// page's origin on every request, as browsers send it.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookie: None }
    }

    /// One request with the jar's cookie (beside another site's), keeping what the
    /// answer sets or clears.
    pub async fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> TestResponse {
        let mut headers = vec![("origin", E_CLIENT_ORIGIN)];
        let cookie = self.cookie.clone().map(|c| format!("theme=dark; {c}"));
        if let Some(cookie) = &cookie {
            headers.push(("cookie", cookie));
        }
        let response = self.app.call_with(method, path, &headers, body).await;
        for set in response.set_cookies() {
            let pair = set.split(';').next().unwrap().to_string();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        response
    }

    /// Registers `name` through E's routes and logs in: the jar holds its cookie.
    pub async fn sign_up_and_in(&mut self, name: &str) {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": BROWSER_PASSWORD});
        assert_eq!(self.send("POST", "/auth/register/", Some(body)).await.status, 201);
        let body = json!({"username": name, "password": BROWSER_PASSWORD});
        assert_eq!(self.send("POST", "/auth/login/", Some(body)).await.status, 200);
    }
}
