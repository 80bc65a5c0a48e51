//! The mixed traffic: each user registers, then runs one request at a time (so
//! what it expects stored is exact) while all users run at once, until the run's
//! request budget or time is spent. Every answer is timed and its status checked
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

/// A chat as its user has been told it is: its user messages, oldest first.
#[derive(Clone, Debug, Default)]
pub struct ChatModel {
    pub id: String,
    /// (message id, content) of each accepted user message.
    pub messages: Vec<(String, String)>,
}

/// What one user has been told: its chats, and the replies it was charged for.
#[derive(Clone, Debug)]
pub struct UserModel {
    pub username: String,
    pub token: String,
    pub start_tokens: i64,
    /// Successful replies: sends, regenerations, edits with regenerate.
    pub charged: i64,
    pub chats: Vec<ChatModel>,
    pub deleted: Vec<String>,
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
const MIX: [(&str, usize); 8] = [
    ("send", 30),
    ("list", 12),
    ("read", 18),
    ("edit", 6),
    ("edit+regenerate", 6),
    ("regenerate", 10),
    ("delete", 6),
    ("login", 12),
];

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
                    self.failures.lock().unwrap().push(format!(
                        "{route} {method} {path}: status {} (expected {allowed:?}): {}",
                        answer.status, answer.body
                    ));
                }
                Some(answer)
            }
            Err(error) => {
                self.failures.lock().unwrap().push(format!("{route}: {error}"));
                None
            }
        }
    }
}

/// Requests of the warm-up user, untimed: under `cargo lambda watch` a function's
/// first request starts its process, which is not what the run measures.
const WARM_UP_REQUESTS: usize = 60;

pub async fn run(client: Arc<Client>, options: &Options) -> Outcome {
    // Names unique to this run, so runs on one store never meet.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let warm_up = Shared::new(client.clone(), WARM_UP_REQUESTS, Duration::from_secs(options.seconds));
    let warm_user = user(&warm_up, format!("load{run}warm"), options.seed).await;
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
            tokio::spawn(async move { user(&shared, username, seed).await })
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

/// One user's life: register, then requests until the budget or time is spent.
async fn user(shared: &Shared, username: String, seed: u64) -> Option<UserModel> {
    let body = json!({"username": username, "password": PASSWORD});
    let answer = shared
        .call("register", &[201], "POST", "/api/register/", None, Some(&body))
        .await?;
    if answer.status != 201 {
        return None;
    }
    let mut model = UserModel {
        username,
        token: answer.body["token"].as_str()?.to_string(),
        start_tokens: answer.body["tokens"].as_i64()?,
        charged: 0,
        chats: Vec::new(),
        deleted: Vec::new(),
    };
    let mut random = Random::new(seed);
    let mut sent = 0usize;
    while shared.claim() {
        let mut pick = random.below(100);
        let mut operation = MIX[0].0;
        for (name, weight) in MIX {
            if pick < weight {
                operation = name;
                break;
            }
            pick -= weight;
        }
        // What needs a chat (or a message) sends one when there is none.
        if model.chats.iter().all(|c| c.messages.is_empty()) && !matches!(operation, "list" | "login") {
            operation = "send";
        }
        step(shared, &mut model, &mut random, operation, &mut sent).await;
    }
    Some(model)
}

async fn step(shared: &Shared, model: &mut UserModel, random: &mut Random, operation: &str, sent: &mut usize) {
    let token = model.token.clone();
    let token = Some(token.as_str());
    // A chat with at least one message, at random.
    let with_messages: Vec<usize> = (0..model.chats.len())
        .filter(|&i| !model.chats[i].messages.is_empty())
        .collect();
    let chat_index = with_messages.get(random.below(with_messages.len())).copied();
    match operation {
        "send" => {
            *sent += 1;
            let content = format!("{} message {}", model.username, sent);
            // A new chat one time in four (its id chosen here), else an existing one.
            let creates = model.chats.is_empty() || random.below(4) == 0;
            let index = if creates {
                model.chats.push(ChatModel {
                    id: uuid::Uuid::new_v4().to_string(),
                    messages: Vec::new(),
                });
                model.chats.len() - 1
            } else {
                random.below(model.chats.len())
            };
            let body =
                json!({"content": content, "chat_id": model.chats[index].id, "provider": "ollama", "model": "llama3"});
            // 201 when the message starts the chat, 200 when it continues one.
            let accepted = if creates { 201 } else { 200 };
            let Some(answer) = shared
                .call("send", &[accepted, 402], "POST", "/api/chats/", token, Some(&body))
                .await
            else {
                return;
            };
            if answer.status == accepted {
                if let Some(id) = answer.body["reply"]["message_id"].as_str() {
                    model.chats[index].messages.push((id.to_string(), content));
                    model.charged += 1;
                }
            }
            if model.chats[index].messages.is_empty() && answer.status != accepted {
                // Refused before anything was stored: the chat was never made.
                model.chats.remove(index);
            }
        }
        "list" => {
            shared
                .call("list", &[200], "GET", "/api/chats/?limit=10", token, None)
                .await;
        }
        "read" => {
            let chat = &model.chats[chat_index.unwrap()];
            let path = format!("/api/chats/{}/messages/?limit=50", chat.id);
            shared.call("read", &[200], "GET", &path, token, None).await;
        }
        "edit" | "edit+regenerate" => {
            let regenerate = operation == "edit+regenerate";
            let chat = &mut model.chats[chat_index.unwrap()];
            let which = random.below(chat.messages.len());
            let content = format!("{} (edited {})", chat.messages[which].1, *sent);
            let path = format!("/api/chats/{}/messages/{}/", chat.id, chat.messages[which].0);
            let body = if regenerate {
                json!({"content": content, "regenerate": true, "provider": "ollama", "model": "llama3"})
            } else {
                json!({"content": content})
            };
            let allowed: &[u16] = if regenerate { &[200, 402] } else { &[200] };
            let route = if regenerate { "edit+regenerate" } else { "edit" };
            if let Some(answer) = shared.call(route, allowed, "PATCH", &path, token, Some(&body)).await {
                if answer.status == 200 {
                    chat.messages[which].1 = content;
                    model.charged += i64::from(regenerate);
                }
            }
        }
        "regenerate" => {
            let chat = &model.chats[chat_index.unwrap()];
            let path = format!("/api/chats/{}/regenerate/", chat.id);
            let body = json!({"model": "ollama/llama3"});
            if let Some(answer) = shared
                .call("regenerate", &[200, 402], "POST", &path, token, Some(&body))
                .await
            {
                model.charged += i64::from(answer.status == 200);
            }
        }
        "delete" => {
            let index = chat_index.unwrap();
            let path = format!("/api/chats/{}/", model.chats[index].id);
            if let Some(answer) = shared.call("delete", &[200], "DELETE", &path, token, None).await {
                if answer.status == 200 {
                    let chat = model.chats.remove(index);
                    model.deleted.push(chat.id);
                }
            }
        }
        "login" => {
            let body = json!({"username": model.username, "password": PASSWORD});
            shared
                .call("login", &[200], "POST", "/api/login/", None, Some(&body))
                .await;
        }
        other => unreachable!("no operation {other}"),
    }
}
