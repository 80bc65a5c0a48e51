//! The fault-injection suite: real requests through the API while a dependency
//! fails, then an audit through the API and the store that every charge ended
//! attached to a stored (or delivered) reply or refunded, exactly once.
//!
//! DynamoDB runs behind `FaultProxy` (moto on loopback, `AWS_ENDPOINT_URL`): the store
//! cut off, slow past the client's timeouts, throttled, transactions cancelled —
//! mid-reply too, so the reply's write and the refund after it both fail. SQLite
//! meets a locked database (and, as root, a full disk and a read-only file). The
//! model fails, hangs, breaks off mid-stream; the inference function is killed
//! mid-reply or cannot be invoked; Secrets Manager cannot be reached. Each case
//! counts its requests and prints one line; every case must end with 0 replies
//! lost, 0 charges taken twice or for nothing, and 0 answers of 500.

use async_trait::async_trait;
use chatbot_core::aws::SharedAws;
use chatbot_core::llm::invoke::RemoteFlanT5;
use chatbot_core::llm::{Chunk, ChunkStream, GenerateRequest, Generation, Provider, ProviderError, Usage};
use chatbot_core::store::dynamodb::DynamoStore;
use chatbot_core::store::sqlite::SqliteStore;
use chatbot_core::store::Store;
use chatbot_tests::dynamodb::{endpoint, sdk_config_at, unique_name};
use chatbot_tests::fake_http::{Answer, FakeServer, Part};
use chatbot_tests::fault_proxy::{Fault, FaultProxy, Rule};
use chatbot_tests::{events, TestApp, TestResponse};
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const USERS: usize = 3;
const INITIAL: i64 = 1000;
const COST: i64 = 100;
const PENDING_SECS: i64 = 120;

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("INITIAL_TOKENS", "1000"),
        ("TOKENS_PER_REQUEST", "100"),
        ("PENDING_CHARGE_SECS", "120"),
        ("RATE_LIMIT_PER_MINUTE", "1000"),
        ("PROVIDER_TIMEOUT_SECS", "2"),
    ]
}

/// What the model does on its next calls.
#[derive(Clone, Debug)]
enum Act {
    Answer,
    Fail(ProviderError),
    /// Never answers (the deadline ends it).
    Hang,
    /// Streams two pieces, then fails.
    BreakMidStream,
}

/// The model: answers at once, unless told otherwise; and, while a reply is being
/// written, can start a store fault, so the fault falls exactly between the charge
/// and the reply's write.
struct Model {
    act: Mutex<Act>,
    during_reply: Mutex<Option<Hook>>,
}

/// What the model sets off while it writes a reply.
type Hook = Arc<dyn Fn() + Send + Sync>;

impl Model {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            act: Mutex::new(Act::Answer),
            during_reply: Mutex::new(None),
        })
    }

    fn act(&self, act: Act) {
        *self.act.lock().unwrap() = act;
    }

    fn during_reply(&self, hook: Option<Hook>) {
        *self.during_reply.lock().unwrap() = hook;
    }

    /// The store behind `proxy` meets `rule` from the moment a reply is written.
    fn fault_during_reply(&self, proxy: &Arc<FaultProxy>, rule: Rule) {
        let proxy = proxy.clone();
        self.during_reply(Some(Arc::new(move || proxy.add(rule.clone()))));
    }

    async fn begin(&self) -> Result<(), ProviderError> {
        let hook = self.during_reply.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook();
        }
        let act = self.act.lock().unwrap().clone();
        match act {
            Act::Fail(err) => Err(err),
            Act::Hang => std::future::pending().await,
            Act::Answer | Act::BreakMidStream => Ok(()),
        }
    }
}

#[async_trait]
impl Provider for Model {
    fn id(&self) -> &str {
        "scripted"
    }
    fn models(&self) -> Vec<String> {
        vec!["echo".into()]
    }
    async fn is_available(&self) -> bool {
        true
    }
    fn input_budget(&self, _: &str) -> usize {
        4096
    }
    async fn generate(&self, _: GenerateRequest) -> Result<Generation, ProviderError> {
        self.begin().await?;
        if matches!(*self.act.lock().unwrap(), Act::BreakMidStream) {
            return Err(ProviderError::Failed("broke off".into()));
        }
        Ok(Generation {
            text: "an answer".into(),
            usage: Usage::default(),
        })
    }
    async fn title(&self, _: &str, first: &str) -> Result<String, ProviderError> {
        Ok(first.chars().take(20).collect())
    }
    async fn stream(&self, request: GenerateRequest) -> Result<ChunkStream, ProviderError> {
        if !matches!(*self.act.lock().unwrap(), Act::BreakMidStream) {
            let generation = self.generate(request).await?;
            return Ok(Box::pin(futures::stream::iter([Ok(Chunk::Text(generation.text))])));
        }
        self.begin().await?;
        let pieces = [
            Ok(Chunk::Text("an ".into())),
            Ok(Chunk::Text("ans".into())),
            Err(ProviderError::Failed("broke off".into())),
        ];
        Ok(Box::pin(futures::stream::iter(pieces)))
    }
}

/// The route a round's requests take.
#[derive(Clone, Copy, Debug)]
enum Route {
    Send,
    Stream,
    OpenAi,
}

const ROUTES: [Route; 3] = [Route::Send, Route::Stream, Route::OpenAi];

/// One user of a case.
struct Account {
    token: String,
    id: uuid::Uuid,
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    requests: usize,
    statuses: BTreeMap<u16, usize>,
    /// Stored replies the clients were given (`reply_id` / the stream's `done`).
    stored: HashSet<String>,
    /// Replies delivered and never stored (`/v1`): paid, nothing to find later.
    delivered_unstored: BTreeMap<uuid::Uuid, i64>,
    /// Replies a 503 named as unconfirmed: stored and paid, or neither.
    unsure: HashSet<String>,
    /// The bodies of 500s, which the audit shows when it refuses them.
    internal_errors: Vec<String>,
}

struct Case {
    name: &'static str,
    app: TestApp,
    /// The `model` of `/v1` requests.
    v1_model: &'static str,
    model: Arc<Model>,
    accounts: Vec<Account>,
    seen: Seen,
}

impl Case {
    /// Users of `app` whose model is this suite's `Model`.
    async fn new(name: &'static str, app: TestApp) -> Self {
        let model = Model::new();
        Self::asking(name, app, model.clone(), model).await
    }

    /// Users of `app` whose requests go to `provider`.
    async fn asking(name: &'static str, app: TestApp, model: Arc<Model>, provider: Arc<dyn Provider>) -> Self {
        let app = app.with_provider(provider);
        let mut accounts = Vec::new();
        for n in 0..USERS {
            let response = app
                .call(
                    "POST",
                    "/api/register/",
                    None,
                    Some(json!({"username": format!("user{n}"), "password": "password123"})),
                )
                .await;
            assert_eq!(response.status, 201, "{}", response.text);
            accounts.push(Account {
                token: response.body["token"].as_str().unwrap().into(),
                id: response.body["user"]["id"].as_str().unwrap().parse().unwrap(),
            });
        }
        Self {
            name,
            app,
            v1_model: "scripted/echo",
            model,
            accounts,
            seen: Seen::default(),
        }
    }

    /// Every user sends one request by `route`, all at once.
    async fn round(&mut self, route: Route) {
        let asks = self.accounts.iter().map(|a| ask(&self.app, route, a, self.v1_model));
        for (account, (status, outcome)) in self.accounts.iter().zip(futures::future::join_all(asks).await) {
            self.seen.requests += 1;
            *self.seen.statuses.entry(status).or_default() += 1;
            match outcome {
                Outcome::Stored(id) => {
                    self.seen.stored.insert(id);
                }
                Outcome::Delivered => *self.seen.delivered_unstored.entry(account.id).or_default() += 1,
                Outcome::Unsure(id) => {
                    self.seen.unsure.insert(id);
                }
                Outcome::Internal(text) => self.seen.internal_errors.push(text),
                Outcome::Nothing => {}
            }
        }
    }

    /// Rounds over every route.
    async fn rounds(&mut self, count: usize) {
        for n in 0..count {
            self.round(ROUTES[n % ROUTES.len()]).await;
        }
    }

    /// Once the faults are over: every user's balance (read through the API, which
    /// first refunds what failures left pending) equals what the stored and
    /// delivered replies cost, every reply a client was given is stored, no hold is
    /// left, and no answer was a 500.
    async fn audit(&self) {
        // The API's clock moves past the pending time: holds failures left are stale.
        self.app
            .set_now(Some(Utc::now() + chrono::Duration::seconds(PENDING_SECS + 5)));
        let mut found = HashSet::new();
        let (mut replies_total, mut charged_total) = (0, 0);
        for account in &self.accounts {
            let balance = self.app.call("GET", "/api/tokens/", Some(&account.token), None).await;
            assert_eq!(balance.status, 200, "{}: {}", self.name, balance.text);
            let (tokens, spent, requests) = (
                balance.body["tokens"].as_i64().unwrap(),
                balance.body["spent"].as_i64().unwrap(),
                balance.body["requests"].as_i64().unwrap(),
            );
            let stored = stored_replies(&self.app, &account.token).await;
            let delivered = self.seen.delivered_unstored.get(&account.id).copied().unwrap_or(0);
            let paid = stored.len() as i64 + delivered;
            assert_eq!(tokens + spent, INITIAL, "{}: tokens + spent", self.name);
            assert_eq!(
                (spent, requests),
                (COST * paid, paid),
                "{}: charged for exactly the {} stored and {delivered} delivered replies",
                self.name,
                stored.len()
            );
            assert!(
                self.app
                    .state
                    .store
                    .stale_holds(account.id, Utc::now() + chrono::Duration::days(1), 100)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}: a charge is still pending",
                self.name
            );
            replies_total += paid;
            charged_total += spent;
            found.extend(stored);
        }
        self.app.set_now(None);
        let lost: Vec<_> = self.seen.stored.difference(&found).collect();
        assert!(
            lost.is_empty(),
            "{}: replies answered but not stored: {lost:?}",
            self.name
        );
        let unannounced: Vec<_> = found
            .difference(&self.seen.stored)
            .filter(|id| !self.seen.unsure.contains(*id))
            .collect();
        assert!(
            unannounced.is_empty(),
            "{}: replies stored (and paid) whose request was answered as failed: {unannounced:?}",
            self.name
        );
        assert_eq!(
            self.seen.statuses.get(&500),
            None,
            "{}: {:?}, 500s: {:?}",
            self.name,
            self.seen.statuses,
            self.seen.internal_errors
        );
        let unsure_stored = self.seen.unsure.intersection(&found).count();
        println!(
            "fault case {}: {} requests, statuses {:?}, {replies_total} replies paid ({charged_total} tokens), \
             {} unconfirmed by a 503 ({unsure_stored} of them stored), 0 lost, 0 double-charged, 0 500s",
            self.name,
            self.seen.requests,
            self.seen.statuses,
            self.seen.unsure.len()
        );
    }
}

enum Outcome {
    Stored(String),
    Delivered,
    /// A 503 that could not confirm the reply it names.
    Unsure(String),
    /// A 500, with its body.
    Internal(String),
    Nothing,
}

/// What an error body says about its reply.
fn unsure(error: &Value) -> Outcome {
    match error["reply_id"].as_str() {
        Some(id) => Outcome::Unsure(id.to_string()),
        None => Outcome::Nothing,
    }
}

/// One request by `route`; its status, and the reply it was given.
async fn ask(app: &TestApp, route: Route, account: &Account, v1_model: &str) -> (u16, Outcome) {
    let token = account.token.as_str();
    match route {
        Route::Send => {
            let response = app
                .call("POST", "/api/chats/", Some(token), Some(json!({"content": "hello"})))
                .await;
            check_error(&response);
            let outcome = match response.body["reply"]["reply_id"].as_str() {
                Some(id) if matches!(response.status, 200 | 201) => Outcome::Stored(id.into()),
                _ if response.status == 500 => Outcome::Internal(response.text.clone()),
                _ => unsure(&response.body),
            };
            (response.status, outcome)
        }
        Route::OpenAi => {
            let body = json!({"model": v1_model, "messages": [{"role": "user", "content": "hello"}]});
            let response = app.call("POST", "/v1/chat/completions", Some(token), Some(body)).await;
            assert_ne!(response.status, 500, "{}", response.text);
            if response.status == 503 {
                assert!(response.header("retry-after").is_some(), "{}", response.text);
            }
            let outcome = if response.status == 200 {
                Outcome::Delivered
            } else {
                Outcome::Nothing
            };
            (response.status, outcome)
        }
        Route::Stream => {
            let response = app
                .open_stream("/api/chats/stream/", token, json!({"content": "hello"}))
                .await;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut text = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    text.push_str(&String::from_utf8_lossy(data));
                }
            }
            if status != 200 {
                let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert!(error["code"].is_string(), "{status}: {text}");
                return (status, Outcome::Nothing);
            }
            let events = events(&text);
            let last = events.last().expect("an event");
            match last.name.as_deref() {
                Some("done") => (
                    200,
                    Outcome::Stored(last.json()["message_id"].as_str().unwrap().to_string()),
                ),
                Some("error") => {
                    let error = last.json();
                    let code = error["code"].as_str().unwrap_or_default().to_string();
                    (status_of(&code, &text), unsure(&error))
                }
                other => panic!("a stream ended with {other:?}: {text}"),
            }
        }
    }
}

/// The status a stream's `error` event stands for (its headers said 200 already).
fn status_of(code: &str, text: &str) -> u16 {
    match code {
        "provider_failed" => 502,
        "provider_unavailable" | "store_unavailable" => 503,
        "provider_timeout" => 504,
        "reply_conflict" => 409,
        "not_found" => 404,
        _ => panic!("a stream ended with an unexpected error: {text}"),
    }
}

/// A failure is JSON with a code; a 503 says when to try again.
fn check_error(response: &TestResponse) {
    if response.status >= 400 {
        assert!(
            response.body["code"].is_string(),
            "{} {}",
            response.status,
            response.text
        );
    }
    if response.status == 503 {
        assert!(response.header("retry-after").is_some(), "{}", response.text);
    }
}

/// The ids of every reply stored in the user's chats, through the API.
async fn stored_replies(app: &TestApp, token: &str) -> Vec<String> {
    let chats = app.call("GET", "/api/chats/?limit=100", Some(token), None).await;
    assert_eq!(chats.status, 200, "{}", chats.text);
    let mut replies = Vec::new();
    for chat in chats.body.as_array().unwrap() {
        let id = chat["chat_id"].as_str().unwrap();
        let messages = app
            .call(
                "GET",
                &format!("/api/chats/{id}/messages/?limit=100"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(messages.status, 200, "{}", messages.text);
        for message in messages.body.as_array().unwrap() {
            if message["role"] == "assistant" {
                replies.push(message["message_id"].as_str().unwrap().to_string());
            }
        }
    }
    replies
}

/// The API on a fresh DynamoDB table reached through a fault proxy.
async fn behind_proxy(name: &'static str) -> (Case, Arc<FaultProxy>) {
    let proxy = Arc::new(FaultProxy::start(&endpoint()).await);
    let sdk = sdk_config_at(&proxy.url).await;
    // The functions' own timeouts, which the faults must outlast.
    let timeout = Duration::from_millis(chatbot_core::config::DEFAULT_DYNAMODB_TIMEOUT_MS);
    let store = DynamoStore::connect(&sdk, &unique_name("chatbot-faults"), timeout)
        .await
        .expect("a table behind the proxy");
    let app = TestApp::with_store(Arc::new(store), &settings(), tempfile::tempdir().unwrap());
    (Case::new(name, app).await, proxy)
}

/// A DynamoDB case: healthy rounds, faulty rounds (the fault set up by `start`),
/// healthy rounds again (nothing needs a restart), then the audit.
async fn dynamodb_case(name: &'static str, start: impl Fn(&Case, &Arc<FaultProxy>)) {
    let (mut case, proxy) = behind_proxy(name).await;
    case.rounds(1).await;
    start(&case, &proxy);
    case.rounds(3).await;
    case.model.during_reply(None);
    proxy.clear();
    assert!(proxy.faulted() > 0, "{name}: the fault was never met");
    case.rounds(3).await;
    case.audit().await;
}

#[tokio::test]
async fn dynamodb_unreachable_mid_reply_loses_nothing() {
    // The store goes away once the charge is taken: the reply's write and the refund
    // both fail (the failure this suite was written for).
    dynamodb_case("dynamodb unreachable mid-reply", |case, proxy| {
        case.model.fault_during_reply(proxy, Rule::always(Fault::Cut))
    })
    .await;
}

#[tokio::test]
async fn dynamodb_unreachable_loses_nothing() {
    dynamodb_case("dynamodb unreachable", |_, proxy| proxy.add(Rule::always(Fault::Cut))).await;
}

#[tokio::test]
async fn dynamodb_slow_past_the_timeouts_loses_nothing() {
    dynamodb_case("dynamodb slow mid-reply", |case, proxy| {
        case.model
            .fault_during_reply(proxy, Rule::always(Fault::Delay(Duration::from_secs(3))))
    })
    .await;
}

#[tokio::test]
async fn dynamodb_throughput_exceeded_loses_nothing() {
    dynamodb_case("dynamodb ProvisionedThroughputExceeded mid-reply", |case, proxy| {
        case.model.fault_during_reply(
            proxy,
            Rule::always(Fault::Error("ProvisionedThroughputExceededException")),
        )
    })
    .await;
}

#[tokio::test]
async fn dynamodb_throttling_loses_nothing() {
    dynamodb_case("dynamodb ThrottlingException", |_, proxy| {
        proxy.add(Rule::always(Fault::Error("ThrottlingException")))
    })
    .await;
}

#[tokio::test]
async fn dynamodb_cancelled_transactions_lose_nothing() {
    // Every transaction after the charge is cancelled: the reply's write, the refund.
    dynamodb_case("dynamodb transactions cancelled mid-reply", |case, proxy| {
        case.model.fault_during_reply(
            proxy,
            Rule::always(Fault::Cancel("TransactionConflict")).on("TransactWriteItems"),
        )
    })
    .await;
}

#[tokio::test]
async fn a_blip_the_sdk_retries_is_not_seen_at_all() {
    let (mut case, proxy) = behind_proxy("dynamodb one dropped connection").await;
    proxy.add(Rule::always(Fault::Cut).on("TransactWriteItems").times(1));
    case.rounds(3).await;
    assert_eq!(proxy.faulted(), 1);
    assert_eq!(case.seen.statuses.keys().copied().collect::<Vec<_>>(), [200, 201]);
    case.audit().await;
}

#[tokio::test]
async fn a_write_whose_answer_came_too_late_is_retried_and_kept_once() {
    // The first attempt of the message's transaction lands after the client's
    // attempt timeout; the SDK sends it again with the same ClientRequestToken, and
    // the service answers success without a second write (moto through
    // infra/moto_server.py, as DynamoDB). The retry is held a little, so that it
    // always arrives after the first attempt landed: the case a retry could mistake
    // for "the message exists".
    let proxy = FaultProxy::start(&endpoint()).await;
    let timeout = Duration::from_millis(chatbot_core::config::DEFAULT_DYNAMODB_TIMEOUT_MS);
    let store: Arc<dyn Store> = Arc::new(
        DynamoStore::connect(&sdk_config_at(&proxy.url).await, &unique_name("chatbot-retry"), timeout)
            .await
            .expect("a table behind the proxy"),
    );
    let alice = chatbot_tests::contract::saved_user(&store, "alice").await;
    let chat = chatbot_tests::contract::chat(&alice, 0);
    store.create_chat(&chat).await.unwrap();
    let question = chatbot_tests::contract::message(&chat, chatbot_core::store::Role::User, "kept once", 1);
    let attempt_timeout = timeout * 2 / 5;
    let late = |by: Duration| {
        Rule::always(Fault::Delay(by))
            .on("TransactWriteItems")
            .containing("kept once")
            .times(1)
    };
    proxy.add(late(attempt_timeout + Duration::from_millis(100)));
    proxy.add(late(Duration::from_millis(300)));
    store
        .add_message(&question)
        .await
        .expect("the retry of a write that landed succeeds");
    assert_eq!(proxy.faulted(), 2, "the first attempt and its retry were both held");
    let messages = store.chat_messages(chat.id).await.unwrap();
    assert_eq!(messages, vec![question], "stored once");
}

/// A model case on the default store: the model misbehaves for a while.
async fn model_case(name: &'static str, act: Act) {
    let mut case = Case::new(name, TestApp::with_vars(&settings()).await).await;
    case.rounds(1).await;
    case.model.act(act);
    case.rounds(3).await;
    case.model.act(Act::Answer);
    case.rounds(3).await;
    case.audit().await;
}

#[tokio::test]
async fn a_failing_model_costs_nothing() {
    model_case("model fails", Act::Fail(ProviderError::Failed("down".into()))).await;
}

#[tokio::test]
async fn a_hanging_model_costs_nothing() {
    model_case("model hangs", Act::Hang).await;
}

#[tokio::test]
async fn a_model_breaking_off_mid_stream_costs_nothing() {
    model_case("model breaks off mid-stream", Act::BreakMidStream).await;
}

/// The inference function, reached through Lambda's Invoke API at a fake endpoint.
async fn inference_case(name: &'static str, failure: Answer) {
    let lambda = FakeServer::start().await;
    let ok = Answer::json(
        200,
        &json!({"generated": {"text": "an answer", "prompt_tokens": 3, "completion_tokens": 2}}),
    );
    lambda.answer([ok.clone()]);
    let aws = SharedAws::with(sdk_config_at(&lambda.url).await);
    let remote = RemoteFlanT5::new(aws, "inference", "google/flan-t5-small", Duration::from_secs(2));
    let app = TestApp::with_vars(&settings()).await;
    let mut case = Case::asking(name, app, Model::new(), Arc::new(Renamed(remote))).await;
    case.rounds(1).await;
    lambda.answer([failure]);
    case.rounds(3).await;
    lambda.answer([ok]);
    case.rounds(3).await;
    case.audit().await;
}

/// The inference client under the test's provider id, so requests reach it.
struct Renamed(RemoteFlanT5);

#[async_trait]
impl Provider for Renamed {
    fn id(&self) -> &str {
        "scripted"
    }
    fn models(&self) -> Vec<String> {
        vec!["echo".into()]
    }
    async fn is_available(&self) -> bool {
        true
    }
    fn input_budget(&self, model: &str) -> usize {
        self.0.input_budget(model)
    }
    async fn generate(&self, mut request: GenerateRequest) -> Result<Generation, ProviderError> {
        request.model = "flan-t5-small".into();
        self.0.generate(request).await
    }
    async fn title(&self, _: &str, first: &str) -> Result<String, ProviderError> {
        self.0.title("flan-t5-small", first).await
    }
}

#[tokio::test]
async fn an_inference_function_killed_mid_reply_costs_nothing() {
    // Lambda's answer when the function's process dies: 200 with a function error.
    let killed = Answer::json(
        200,
        &json!({"errorType": "Runtime.ExitError", "errorMessage": "signal: killed"}),
    )
    .with_header("x-amz-function-error", "Unhandled");
    inference_case("inference function killed mid-reply", killed).await;
}

#[tokio::test]
async fn an_inference_invoke_that_fails_costs_nothing() {
    let cut = Answer {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        parts: vec![Part::Bytes(b"{\"outcome\": \"gen".to_vec()), Part::Cut],
        content_length: Some(200),
    };
    inference_case("inference invoke fails (connection cut)", cut).await;
    let throttled = Answer::json(429, &json!({"Type": "User", "message": "Rate exceeded"}))
        .with_header("x-amzn-errortype", "TooManyRequestsException");
    inference_case("inference invoke throttled", throttled).await;
    let garbage = Answer::json(200, &json!(["not", "an", "answer"]));
    inference_case("inference answers garbage", garbage).await;
}

/// The API on a SQLite file in `dir`.
fn on_sqlite(dir: tempfile::TempDir) -> (TestApp, std::path::PathBuf) {
    let path = dir.path().join("faults.sqlite3");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    (TestApp::with_store(store, &settings(), dir), path)
}

#[tokio::test]
async fn a_locked_sqlite_database_loses_nothing() {
    let (app, path) = on_sqlite(tempfile::tempdir().unwrap());
    let mut case = Case::new("sqlite locked mid-reply", app).await;
    case.round(Route::Send).await;
    // Another process takes the write lock while the first reply is written, and
    // holds it past the store's busy timeout: that reply's write fails, and so may
    // its refund.
    let locked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    case.model.during_reply(Some(Arc::new(move || {
        if locked.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let path = path.clone();
        let (taken, held) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            taken.send(()).unwrap();
            std::thread::sleep(SQLITE_LOCK_HELD);
            conn.execute_batch("ROLLBACK").unwrap();
        });
        held.recv().unwrap();
    })));
    case.round(Route::Send).await;
    case.round(Route::Stream).await;
    case.model.during_reply(None);
    assert!(case.seen.statuses.contains_key(&503), "{:?}", case.seen.statuses);
    case.rounds(2).await;
    case.audit().await;
}

/// Longer than the store's busy timeout.
const SQLITE_LOCK_HELD: Duration = chatbot_core::store::sqlite::BUSY_TIMEOUT.saturating_add(Duration::from_secs(2));

/// A tmpfs of its own, unmounted when dropped: a disk that can be filled. Mounting
/// needs root, which CI has; elsewhere the case says it was skipped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if mounted {
            return Some(Self { dir });
        }
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root and must be able to mount a tmpfs for the full-disk case"
        );
        eprintln!("SKIPPED the full-disk case: mounting a tmpfs needs root");
        None
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_under_sqlite_loses_nothing() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let path = disk.dir.path().join("faults.sqlite3");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let app = TestApp::with_store(store, &settings(), tempfile::tempdir().unwrap());
    let mut case = Case::new("sqlite disk full mid-reply", app).await;
    case.round(Route::Send).await;
    // While a reply is written the disk fills up: the write-ahead log is emptied
    // first (as a checkpoint would), so the next write must grow a file.
    let filler = disk.dir.path().join("filler");
    let (db, fill) = (path.clone(), filler.clone());
    case.model.during_reply(Some(Arc::new(move || {
        if fill.exists() {
            return;
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        use std::io::Write;
        let mut file = std::fs::File::create(&fill).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
    })));
    case.round(Route::Send).await;
    case.round(Route::Stream).await;
    case.model.during_reply(None);
    assert!(case.seen.statuses.contains_key(&503), "{:?}", case.seen.statuses);
    std::fs::remove_file(&filler).unwrap();
    case.rounds(3).await;
    case.audit().await;
}

#[tokio::test]
async fn secrets_manager_unreachable_costs_nothing_and_heals() {
    let (secrets, openai) = (FakeServer::start().await, FakeServer::start().await);
    secrets.answer([Answer::json(
        200,
        &json!({"Name": "chatbot/keys", "SecretString": r#"{"OPENAI_API_KEY": "sk-test"}"#}),
    )]);
    openai.answer([chatbot_tests::wire::openai_completion("an answer", 3, 2)]);
    let proxy = FaultProxy::start(&secrets.url).await;
    proxy.add(Rule::always(Fault::Cut));
    let aws = SharedAws::with(sdk_config_at(&proxy.url).await);
    let mut vars = settings();
    vars.extend([
        ("SECRET_ID", "chatbot/keys"),
        ("OPENAI_BASE_URL", openai.url.as_str()),
        ("DEFAULT_PROVIDER", "openai"),
        ("DEFAULT_MODEL", "gpt-4o-mini"),
    ]);
    let mut case = Case::new("secrets manager unreachable", TestApp::from_config(&vars, aws).await).await;
    case.v1_model = "openai/gpt-4o-mini";
    case.round(Route::Send).await;
    case.round(Route::OpenAi).await;
    assert!(proxy.faulted() > 0);
    // Unavailable, or out of time while the SDK retried the secret's read.
    assert!(
        case.seen.statuses.keys().all(|status| matches!(status, 503 | 504)),
        "{:?}",
        case.seen.statuses
    );
    // Reachable again: the key is read once its pause is over (1 s, doubling with
    // each miss), without a restart.
    proxy.clear();
    let mut healed = false;
    for _ in 0..8 {
        tokio::time::sleep(chatbot_core::secrets::FIRST_RETRY).await;
        let before = case.seen.statuses.get(&200).copied().unwrap_or(0);
        case.round(Route::OpenAi).await;
        if case.seen.statuses.get(&200).copied().unwrap_or(0) > before {
            healed = true;
            break;
        }
    }
    assert!(healed, "{:?}", case.seen.statuses);
    case.round(Route::Send).await;
    case.round(Route::OpenAi).await;
    case.audit().await;
}

/// Makes `files` immutable (`chattr +i`: even root, even through descriptors open
/// already, cannot write them) until dropped. Needs root on a file system with the
/// attribute, which CI has; elsewhere the case says it was skipped.
struct ReadOnly {
    files: Vec<std::path::PathBuf>,
}

impl ReadOnly {
    fn set(files: &[std::path::PathBuf], on: bool) -> bool {
        std::process::Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .args(files)
            .status()
            .is_ok_and(|status| status.success())
    }

    fn make(files: Vec<std::path::PathBuf>) -> Option<Self> {
        if Self::set(&files, true) {
            return Some(Self { files });
        }
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root and must be able to make a file immutable for the read-only case"
        );
        eprintln!("SKIPPED the read-only case: chattr +i needs root");
        None
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        Self::set(&self.files, false);
    }
}

#[tokio::test]
async fn a_read_only_sqlite_file_loses_nothing() {
    let (app, path) = on_sqlite(tempfile::tempdir().unwrap());
    let mut case = Case::new("sqlite file read-only mid-reply", app).await;
    case.round(Route::Send).await;
    // The database and its write-ahead log turn read-only while a reply is written
    // (not the shared-memory index, which SQLite maps: a write to a mapped page of
    // an immutable file is a SIGBUS, not an error).
    let files: Vec<std::path::PathBuf> = ["", "-wal"]
        .iter()
        .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", path.display())))
        .collect();
    let locked: Arc<Mutex<Option<Option<ReadOnly>>>> = Arc::new(Mutex::new(None));
    let hook = locked.clone();
    case.model.during_reply(Some(Arc::new(move || {
        let mut slot = hook.lock().unwrap();
        if slot.is_none() {
            *slot = Some(ReadOnly::make(files.clone()));
        }
    })));
    case.round(Route::Send).await;
    case.round(Route::Stream).await;
    case.model.during_reply(None);
    let made = locked.lock().unwrap().take().flatten();
    let Some(read_only) = made else {
        return;
    };
    assert!(case.seen.statuses.contains_key(&503), "{:?}", case.seen.statuses);
    drop(read_only);
    case.rounds(3).await;
    case.audit().await;
}
