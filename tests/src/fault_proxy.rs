//! A fault-injecting HTTP/1.1 proxy on loopback, in front of the local AWS endpoint
//! (moto): the store's real client talks to it over a real socket, and each request
//! is passed on or met by the fault a rule names — the connection cut, an answer
//! held past the client's timeouts, DynamoDB's throttling errors, a cancelled
//! transaction. Rules match by operation (the `X-Amz-Target` suffix, e.g.
//! `TransactWriteItems`) and by a text the body contains (e.g. `HOLD#`), so a test
//! can fail exactly the step it means: the reply's write, the refund after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a matching request meets.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The connection closes without an answer (the store unreachable).
    Cut,
    /// The answer comes this late (a slow store, past the client's timeouts).
    Delay(Duration),
    /// A DynamoDB error answer: HTTP 400 with this error type, e.g.
    /// `ProvisionedThroughputExceededException` or `ThrottlingException`.
    Error(&'static str),
    /// A `TransactionCanceledException` whose every reason has this code, e.g.
    /// `TransactionConflict` or `ThrottlingError`.
    Cancel(&'static str),
}

/// One rule: which requests, what they meet, and how many more times.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The operation (`None`: any).
    pub operation: Option<&'static str>,
    /// A text the request body must contain (`None`: any body).
    pub body_contains: Option<&'static str>,
    pub fault: Fault,
    /// Requests it still applies to (`None`: until cleared).
    pub times: Option<usize>,
}

impl Rule {
    /// Every request meets `fault` until the rules are cleared.
    pub fn always(fault: Fault) -> Self {
        Self {
            operation: None,
            body_contains: None,
            fault,
            times: None,
        }
    }

    pub fn on(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }

    pub fn containing(mut self, text: &'static str) -> Self {
        self.body_contains = Some(text);
        self
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = Some(times);
        self
    }

    fn matches(&self, operation: &str, body: &str) -> bool {
        self.times != Some(0)
            && self.operation.is_none_or(|op| op == operation)
            && self.body_contains.is_none_or(|text| body.contains(text))
    }
}

#[derive(Default)]
struct Plan {
    rules: Vec<Rule>,
    /// Requests that met a fault, by operation.
    faulted: Vec<String>,
    /// Requests passed on, by operation.
    passed: Vec<String>,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub url: String,
    plan: Arc<Mutex<Plan>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`) on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fault proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let plan = Arc::new(Mutex::new(Plan::default()));
        let shared = plan.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream.clone(), shared.clone()));
            }
        });
        Self { url, plan, task }
    }

    /// Adds a rule; the first matching rule applies.
    pub fn add(&self, rule: Rule) {
        self.plan.lock().unwrap().rules.push(rule);
    }

    /// Every request passes from now on.
    pub fn clear(&self) {
        self.plan.lock().unwrap().rules.clear();
    }

    /// How many requests met a fault so far.
    pub fn faulted(&self) -> usize {
        self.plan.lock().unwrap().faulted.len()
    }

    /// How many requests were passed on so far.
    pub fn passed(&self) -> usize {
        self.plan.lock().unwrap().passed.len()
    }
}

/// One client connection: request after request, until either side closes.
async fn serve(mut client: TcpStream, upstream: String, plan: Arc<Mutex<Plan>>) {
    let mut buffer = Vec::new();
    loop {
        let Some((head, body)) = read_request(&mut client, &mut buffer).await else {
            return;
        };
        let operation = header(&head, "x-amz-target")
            .map(|target| target.rsplit('.').next().unwrap_or(&target).to_string())
            .unwrap_or_default();
        let body_text = String::from_utf8_lossy(&body).into_owned();
        let fault = {
            let mut plan = plan.lock().unwrap();
            let fault = plan
                .rules
                .iter_mut()
                .find(|r| r.matches(&operation, &body_text))
                .map(|rule| {
                    if let Some(times) = rule.times.as_mut() {
                        *times -= 1;
                    }
                    rule.fault.clone()
                });
            if fault.is_some() {
                &mut plan.faulted
            } else {
                &mut plan.passed
            }
            .push(operation.clone());
            fault
        };
        let answer = match fault {
            Some(Fault::Cut) => return,
            Some(Fault::Error(kind)) => error_answer(kind, &format!("{kind} (injected)"), None),
            Some(Fault::Cancel(code)) => cancelled_answer(&body_text, code),
            Some(Fault::Delay(pause)) => {
                tokio::time::sleep(pause).await;
                forward(&upstream, &head, &body).await
            }
            None => forward(&upstream, &head, &body).await,
        };
        let Some(answer) = answer else {
            return;
        };
        if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// Reads one request (head and `Content-Length` body); `None` when the client closed.
async fn read_request(client: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = client.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = client.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((head, body))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

/// Sends the request upstream on a connection of its own and returns the whole
/// answer; `None` (the client's connection is closed) when upstream fails.
async fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    let mut request: String = head
        .trim_end_matches("\r\n")
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    request.push_str("connection: close\r\n\r\n");
    server.write_all(request.as_bytes()).await.ok()?;
    server.write_all(body).await.ok()?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await.ok()?;
    Some(answer)
}

fn error_answer(kind: &str, message: &str, extra: Option<serde_json::Value>) -> Option<Vec<u8>> {
    let mut body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    if let Some(serde_json::Value::Object(fields)) = extra {
        body.as_object_mut().unwrap().extend(fields);
    }
    let body = body.to_string();
    Some(
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: {kind}\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A cancelled transaction with one reason per action of the request.
fn cancelled_answer(body: &str, code: &'static str) -> Option<Vec<u8>> {
    let actions = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1);
    let reasons: Vec<_> = (0..actions)
        .map(|_| serde_json::json!({"Code": code, "Message": "injected"}))
        .collect();
    error_answer(
        "TransactionCanceledException",
        &format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{code}]"),
        Some(serde_json::json!({ "CancellationReasons": reasons })),
    )
}
