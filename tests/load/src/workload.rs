//! The mixed traffic. Each user registers, then runs `--in-flight` lanes at once:
//! several requests of one account in flight together, all charged to the same
//! balance, while every user runs at the same time, until the run's request
//! budget or time is spent. A chat belongs to the lane that created it, so what
//! that lane expects stored in it stays exact however the lanes interleave.
//!
//! The run reaches what the accounting must survive, not only the happy path:
//! balances drain until charges are refused (402; `infra/load.sh` sizes
//! `INITIAL_TOKENS` to the run), some replies fail after the charge and are
//! refunded (the fake Ollama refuses one answer in eight, and some sends ask for
//! OpenAI, which has no key here: 502 and 503, the question kept), and a chat's
//! newest question is answered again by two routes at once (both charged, or
//! one refused 409 and refunded). Every answer is timed and its status checked
//! against what that request may answer.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::{Answer, Client};
use crate::options::Options;

/// One answered request.
#[derive(Clone, Debug)]
pub struct Sample {
    pub route: &'static str,
    pub status: u16,
    pub latency: Duration,
}

/// A user message as its user has been told it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub id: String,
    pub content: String,
    /// Replies generated for it and charged: the current one and the versions it
    /// superseded (0 while every attempt failed).
    pub replies: i64,
}

/// A chat as its user has been told it is: its user messages, oldest first.
#[derive(Clone, Debug, Default)]
pub struct ChatModel {
    pub id: String,
    pub questions: Vec<Question>,
}

impl ChatModel {
    pub fn replies(&self) -> i64 {
        self.questions.iter().map(|q| q.replies).sum()
    }
}

/// How a user's charging requests ended, besides the replies it was charged for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endings {
    /// Refused for want of tokens (402): nothing charged or stored.
    pub refused: i64,
    /// The model failed after the charge (502/503): refunded, the question kept.
    pub refunded: i64,
    /// A regeneration that lost the race to another (409): refunded, not stored.
    pub raced: i64,
}

impl Endings {
    fn add(&mut self, other: Endings) {
        self.refused += other.refused;
        self.refunded += other.refunded;
        self.raced += other.raced;
    }
}

/// What one user has been told: its chats, and the replies it was charged for.
#[derive(Clone, Debug)]
pub struct UserModel {
    pub username: String,
    pub token: String,
    pub start_tokens: i64,
    /// Successful replies: sends, regenerations, edits with regenerate.
    pub charged: i64,
    pub endings: Endings,
    pub chats: Vec<ChatModel>,
    /// Chats the user deleted, with the replies charged in them (gone with them).
    pub deleted: Vec<(String, i64)>,
}

pub struct Outcome {
    pub users: Vec<UserModel>,
    pub samples: Vec<Sample>,
    pub failures: Vec<String>,
    /// The timed run's wall time (from the users' start to the last one's end).
    pub elapsed: Duration,
}

const PASSWORD: &str = "load test passphrase";

/// A small deterministic generator (xorshift64*): the same seed, the same mix.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// The operations and their weights in the mix (out of 100).
const MIX: [(&str, usize); 10] = [
    ("send", 26),
    ("send (no key)", 4),
    ("list", 12),
    ("read", 16),
    ("edit", 6),
    ("edit+regenerate", 6),
    ("regenerate", 8),
    ("regenerate+edit", 4),
    ("delete", 6),
    ("login", 12),
];

/// What the stack's chats ask for: the fake Ollama this process serves.
const SERVED: (&str, &str) = ("ollama", "llama3");
/// A provider the stack has no key for: its replies fail (503) after the charge.
const NO_KEY: (&str, &str) = ("openai", "gpt-4o-mini");

struct Shared {
    client: Arc<Client>,
    taken: AtomicUsize,
    budget: usize,
    deadline: Instant,
    samples: Mutex<Vec<Sample>>,
    failures: Mutex<Vec<String>>,
}

impl Shared {
    fn new(client: Arc<Client>, budget: usize, time: Duration) -> Self {
        Self {
            client,
            taken: AtomicUsize::new(0),
            budget,
            deadline: Instant::now() + time,
            samples: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// Claims one request of the budget, unless it or the time is spent.
    fn claim(&self) -> bool {
        Instant::now() < self.deadline && self.taken.fetch_add(1, Ordering::SeqCst) < self.budget
    }

    fn fail(&self, failure: String) {
        self.failures.lock().unwrap().push(failure);
    }

    /// Sends, records the sample, and checks the status is one `allowed`.
    async fn call(
        &self,
        route: &'static str,
        allowed: &[u16],
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Option<Answer> {
        match self.client.call(method, path, token, body).await {
            Ok(answer) => {
                self.samples.lock().unwrap().push(Sample {
                    route,
                    status: answer.status,
                    latency: answer.latency,
                });
                if !allowed.contains(&answer.status) {
                    self.fail(format!(
                        "{route} {method} {path}: status {} (expected {allowed:?}): {}",
                        answer.status, answer.body
                    ));
                }
                Some(answer)
            }
            Err(error) => {
                self.fail(format!("{route}: {error}"));
                None
            }
        }
    }
}

/// Requests of the warm-up user, untimed: under `cargo lambda watch` a function's
/// first request starts its process, which is not what the run measures.
pub const WARM_UP_REQUESTS: usize = 60;

pub async fn run(client: Arc<Client>, options: &Options) -> Outcome {
    // Names unique to this run, so runs on one store never meet.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let lanes = options.in_flight;
    let warm_up = Arc::new(Shared::new(
        client.clone(),
        WARM_UP_REQUESTS,
        Duration::from_secs(options.seconds),
    ));
    let warming = Instant::now();
    let warm_user = user(warm_up.clone(), format!("load{run}warm"), options.seed, lanes).await;
    println!(
        "warm-up: {WARM_UP_REQUESTS} requests in {:.1} s",
        warming.elapsed().as_secs_f64()
    );
    let shared = Arc::new(Shared::new(
        client,
        options.requests,
        Duration::from_secs(options.seconds),
    ));
    let started = Instant::now();
    let tasks: Vec<_> = (0..options.users)
        .map(|i| {
            let shared = shared.clone();
            let username = format!("load{run}u{i}");
            let seed = options.seed ^ ((i as u64 + 1) << 32);
            tokio::spawn(user(shared, username, seed, lanes))
        })
        .collect();
    let mut users = Vec::new();
    for task in tasks {
        if let Some(model) = task.await.expect("a user's task") {
            users.push(model);
        }
    }
    let elapsed = started.elapsed();
    // The warm-up user's chats are checked like the others'; its timings are not kept.
    users.extend(warm_user);
    let samples = std::mem::take(&mut *shared.samples.lock().unwrap());
    let mut failures = std::mem::take(&mut *warm_up.failures.lock().unwrap());
    failures.extend(std::mem::take(&mut *shared.failures.lock().unwrap()));
    Outcome {
        users,
        samples,
        failures,
        elapsed,
    }
}

/// One user's life: register, then `lanes` lanes of requests at once until the
/// budget or time is spent; what they were told, merged.
async fn user(shared: Arc<Shared>, username: String, seed: u64, lanes: usize) -> Option<UserModel> {
    let body = json!({"username": username, "password": PASSWORD});
    let answer = shared
        .call("register", &[201], "POST", "/api/register/", None, Some(&body))
        .await?;
    if answer.status != 201 {
        return None;
    }
    let token = answer.body["token"].as_str()?.to_string();
    let mut model = UserModel {
        username: username.clone(),
        token: token.clone(),
        start_tokens: answer.body["tokens"].as_i64()?,
        charged: 0,
        endings: Endings::default(),
        chats: Vec::new(),
        deleted: Vec::new(),
    };
    let tasks: Vec<_> = (0..lanes)
        .map(|n| {
            let lane = Lane {
                shared: shared.clone(),
                username: username.clone(),
                name: format!("{username} lane {n}"),
                token: token.clone(),
                random: Random::new(seed ^ (n as u64 + 1).wrapping_mul(0x1000_0001)),
                chats: Vec::new(),
                deleted: Vec::new(),
                charged: 0,
                endings: Endings::default(),
                sent: 0,
            };
            tokio::spawn(lane.run())
        })
        .collect();
    for task in tasks {
        let lane = task.await.expect("a lane's task");
        model.charged += lane.charged;
        model.endings.add(lane.endings);
        model.chats.extend(lane.chats);
        model.deleted.extend(lane.deleted);
    }
    Some(model)
}

/// One lane of a user: one request at a time, on chats of its own.
struct Lane {
    shared: Arc<Shared>,
    username: String,
    /// For message contents: unique across the run.
    name: String,
    token: String,
    random: Random,
    chats: Vec<ChatModel>,
    deleted: Vec<(String, i64)>,
    charged: i64,
    endings: Endings,
    sent: usize,
}

impl Lane {
    async fn run(mut self) -> Self {
        while self.shared.claim() {
            let mut pick = self.random.below(100);
            let mut operation = MIX[0].0;
            for (name, weight) in MIX {
                if pick < weight {
                    operation = name;
                    break;
                }
                pick -= weight;
            }
            // What needs a chat (or a message) sends one when there is none.
            if self.chats.iter().all(|c| c.questions.is_empty()) && !matches!(operation, "list" | "login") {
                operation = "send";
            }
            self.step(operation).await;
        }
        self
    }

    /// A chat with at least one message, at random.
    fn some_chat(&mut self) -> usize {
        let with_messages: Vec<usize> = (0..self.chats.len())
            .filter(|&i| !self.chats[i].questions.is_empty())
            .collect();
        with_messages[self.random.below(with_messages.len())]
    }

    /// A reply that failed after the charge (refunded) or was refused (402).
    fn ended(&mut self, status: u16) {
        match status {
            402 => self.endings.refused += 1,
            409 => self.endings.raced += 1,
            502..=504 => self.endings.refunded += 1,
            _ => {}
        }
    }

    /// The outcome of answering the chat's newest question again: one more reply
    /// to it when charged; an edit is saved once charged, even when the model or
    /// the race then fails.
    fn answered_again(&mut self, index: usize, edit: Option<String>, status: u16) {
        let Some(last) = self.chats[index].questions.last_mut() else {
            return;
        };
        if let Some(content) = edit.filter(|_| matches!(status, 200 | 409 | 502)) {
            last.content = content;
        }
        if status == 200 {
            last.replies += 1;
            self.charged += 1;
        } else {
            self.ended(status);
        }
    }

    async fn step(&mut self, operation: &str) {
        let shared = self.shared.clone();
        let token = self.token.clone();
        let token = Some(token.as_str());
        match operation {
            "send" | "send (no key)" => {
                let route = if operation == "send" { "send" } else { "send (no key)" };
                let (provider, model) = if route == "send" { SERVED } else { NO_KEY };
                self.sent += 1;
                let content = format!("{} message {}", self.name, self.sent);
                // A new chat one time in four (its id chosen here), else an existing one.
                let creates = self.chats.is_empty() || self.random.below(4) == 0;
                let index = if creates {
                    self.chats.push(ChatModel {
                        id: uuid::Uuid::new_v4().to_string(),
                        questions: Vec::new(),
                    });
                    self.chats.len() - 1
                } else {
                    self.random.below(self.chats.len())
                };
                let body =
                    json!({"content": content, "chat_id": self.chats[index].id, "provider": provider, "model": model});
                // 201 when the message starts the chat, 200 when it continues one.
                let accepted = if creates { 201 } else { 200 };
                let served = [accepted, 402, 502];
                let allowed: &[u16] = if route == "send" { &served } else { &[503, 402] };
                let Some(answer) = shared
                    .call(route, allowed, "POST", "/api/chats/", token, Some(&body))
                    .await
                else {
                    return;
                };
                let chat = &mut self.chats[index];
                // The question is stored with its reply, or kept without one when
                // the model failed (the error names it); a 402 stores nothing.
                let (kept, replies) = match answer.status {
                    status if status == accepted => (Some(&answer.body["reply"]["message_id"]), 1),
                    502 | 503 => (Some(&answer.body["message_id"]), 0),
                    _ => (None, 0),
                };
                match kept.map(Value::as_str) {
                    Some(Some(id)) => chat.questions.push(Question {
                        id: id.to_string(),
                        content,
                        replies,
                    }),
                    Some(None) => shared.fail(format!(
                        "{route}: a {} names no message: {}",
                        answer.status, answer.body
                    )),
                    None => {}
                }
                self.charged += replies;
                if replies == 0 {
                    self.ended(answer.status);
                }
                if self.chats[index].questions.is_empty() {
                    // Refused before anything was stored: the chat was never made.
                    self.chats.remove(index);
                }
            }
            "list" => {
                shared
                    .call("list", &[200], "GET", "/api/chats/?limit=10", token, None)
                    .await;
            }
            "read" => {
                let index = self.some_chat();
                let path = format!("/api/chats/{}/messages/?limit=50", self.chats[index].id);
                shared.call("read", &[200], "GET", &path, token, None).await;
            }
            "edit" | "edit+regenerate" => {
                let regenerate = operation == "edit+regenerate";
                let index = self.some_chat();
                let which = self.random.below(self.chats[index].questions.len());
                let chat = &self.chats[index];
                let content = format!("{} (edited {})", chat.questions[which].content, self.sent);
                let path = format!("/api/chats/{}/messages/{}/", chat.id, chat.questions[which].id);
                let (route, body, allowed): (_, _, &[u16]) = if regenerate {
                    let body = json!({"content": content, "regenerate": true, "provider": SERVED.0, "model": SERVED.1});
                    ("edit+regenerate", body, &[200, 402, 502])
                } else {
                    ("edit", json!({"content": content}), &[200])
                };
                let Some(answer) = shared.call(route, allowed, "PATCH", &path, token, Some(&body)).await else {
                    return;
                };
                let question = &mut self.chats[index].questions[which];
                // The edit is saved once the request is charged, whether or not
                // the model then answers; a 402 leaves the message as it was.
                if matches!(answer.status, 200 | 502) {
                    question.content = content;
                }
                if regenerate && answer.status == 200 {
                    question.replies += 1;
                    self.charged += 1;
                } else if regenerate {
                    self.ended(answer.status);
                }
            }
            "regenerate" => {
                let index = self.some_chat();
                let path = format!("/api/chats/{}/regenerate/", self.chats[index].id);
                let body = json!({"model": format!("{}/{}", SERVED.0, SERVED.1)});
                if let Some(answer) = shared
                    .call("regenerate", &[200, 402, 502], "POST", &path, token, Some(&body))
                    .await
                {
                    self.answered_again(index, None, answer.status);
                }
            }
            "regenerate+edit" => {
                // The chat's newest question answered again by two routes at once
                // (two functions, so truly concurrent): both may be charged and
                // stored, or the second to store is refused 409 and refunded.
                if !shared.claim() {
                    return;
                }
                let index = self.some_chat();
                let chat = &self.chats[index];
                let last = chat.questions.len() - 1;
                let regenerate = format!("/api/chats/{}/regenerate/", chat.id);
                let edit = format!("/api/chats/{}/messages/{}/", chat.id, chat.questions[last].id);
                let content = format!("{} (edited {})", chat.questions[last].content, self.sent);
                let asked = json!({"model": format!("{}/{}", SERVED.0, SERVED.1)});
                let edited = json!({"content": content, "regenerate": true, "provider": SERVED.0, "model": SERVED.1});
                let allowed = [200, 402, 409, 502];
                let (first, second) = tokio::join!(
                    shared.call("regenerate+edit", &allowed, "POST", &regenerate, token, Some(&asked)),
                    shared.call("regenerate+edit", &allowed, "PATCH", &edit, token, Some(&edited)),
                );
                if let Some(answer) = first {
                    self.answered_again(index, None, answer.status);
                }
                if let Some(answer) = second {
                    self.answered_again(index, Some(content), answer.status);
                }
            }
            "delete" => {
                let index = self.some_chat();
                let path = format!("/api/chats/{}/", self.chats[index].id);
                if let Some(answer) = shared.call("delete", &[200], "DELETE", &path, token, None).await {
                    if answer.status == 200 {
                        let chat = self.chats.remove(index);
                        let replies = chat.replies();
                        self.deleted.push((chat.id, replies));
                    }
                }
            }
            "login" => {
                let body = json!({"username": self.username, "password": PASSWORD});
                shared
                    .call("login", &[200], "POST", "/api/login/", None, Some(&body))
                    .await;
            }
            other => unreachable!("no operation {other}"),
        }
    }
}
