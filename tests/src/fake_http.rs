//! A scripted HTTP/1.1 server on loopback, standing in for a model provider. Each
//! request gets the next scripted answer (the last one repeats), and is recorded.
//! Answers can be slow, streamed in pieces, or cut off mid-way, which a real
//! provider does now and then and a client must survive.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub enum Part {
    Bytes(Vec<u8>),
    Pause(Duration),
    /// Close the connection here, whatever was promised.
    Cut,
}

#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
    /// Declare this body length (to fake a truncated body); otherwise the body ends
    /// when the connection closes.
    pub content_length: Option<usize>,
}

impl Answer {
    pub fn json(status: u16, body: &Value) -> Self {
        let bytes = body.to_string().into_bytes();
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            content_length: Some(bytes.len()),
            parts: vec![Part::Bytes(bytes)],
        }
    }

    /// A streamed body, sent line by line with a short pause between lines.
    pub fn stream(content_type: &str, lines: &[String]) -> Self {
        let mut parts = Vec::new();
        for line in lines {
            parts.push(Part::Bytes(line.clone().into_bytes()));
            parts.push(Part::Pause(Duration::from_millis(5)));
        }
        Self {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            parts,
            content_length: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Waits `delay` before answering.
    pub fn after(mut self, delay: Duration) -> Self {
        self.parts.insert(0, Part::Pause(delay));
        self
    }

    /// Sends only the first `keep` bytes of the body, then hangs up.
    pub fn truncated(mut self, keep: usize) -> Self {
        let mut body: Vec<u8> = self
            .parts
            .iter()
            .filter_map(|p| if let Part::Bytes(b) = p { Some(b.clone()) } else { None })
            .flatten()
            .collect();
        let full = body.len();
        body.truncate(keep);
        self.parts = vec![Part::Bytes(body), Part::Cut];
        self.content_length = self.content_length.map(|_| full);
        self
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeServer {
    pub url: String,
    script: Arc<Mutex<VecDeque<Answer>>>,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// On a given address, for a server other processes must be told of before
    /// it starts (the load test's model, named in the stack's `OLLAMA_HOST`).
    pub async fn start_on(address: &str) -> Self {
        let listener = TcpListener::bind(address)
            .await
            .unwrap_or_else(|e| panic!("bind {address}: {e}"));
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = Self {
            url,
            script: Arc::default(),
            requests: Arc::default(),
        };
        let handle = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let handle = handle.clone();
                tokio::spawn(async move { handle.serve(socket).await });
            }
        });
        server
    }

    /// Queues answers for the next requests; the last one repeats.
    pub fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        let mut script = self.script.lock().unwrap();
        script.clear();
        script.extend(answers);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn next_answer(&self) -> Answer {
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script
                .front()
                .cloned()
                .unwrap_or_else(|| Answer::json(500, &serde_json::json!({"error": "no answer scripted"})))
        }
    }

    async fn serve(&self, mut socket: TcpStream) {
        let Some(request) = read_request(&mut socket).await else {
            return;
        };
        self.requests.lock().unwrap().push(request);
        let answer = self.next_answer();
        let mut head = format!("HTTP/1.1 {} Scripted\r\nconnection: close\r\n", answer.status);
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(length) = answer.content_length {
            head.push_str(&format!("content-length: {length}\r\n"));
        }
        head.push_str("\r\n");
        let pause_first = matches!(answer.parts.first(), Some(Part::Pause(_)));
        if !pause_first && socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut head_sent = !pause_first;
        for part in answer.parts {
            match part {
                Part::Pause(delay) => tokio::time::sleep(delay).await,
                Part::Cut => return,
                Part::Bytes(bytes) => {
                    if !head_sent {
                        head_sent = true;
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    if socket.write_all(&bytes).await.is_err() || socket.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
        if !head_sent {
            let _ = socket.write_all(head.as_bytes()).await;
        }
        let _ = socket.shutdown().await;
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buffer[head_end..]).unwrap_or(Value::Null);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}
