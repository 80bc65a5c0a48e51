//! `chatbot-load`: drives the API already running at `--base` (the functions under
//! `cargo lambda watch`, see `infra/load.sh`) with many users' mixed traffic for a
//! fixed count of requests and at most a fixed time, several requests of each
//! user in flight at once, balances drained to 402 and some replies failing after
//! their charge (`workload`). Then it checks, through the API and in the store the
//! settings name (`STORE`, `SQLITE_PATH` / `TABLE_NAME`, as the stack's), that every
//! accepted message is stored exactly once and in order, that every balance is its
//! start less the charges of its stored replies and nothing else (`verify`), and
//! that no request got a status it may not answer. Prints throughput and latency
//! per route; exits 1 on any broken invariant. The stack's model is a fake Ollama
//! this process serves on `--ollama-port`, so the load measures the API and the
//! store, not a model.

mod api;
mod options;
mod report;
mod verify;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;

use chatbot_core::aws::SharedAws;
use chatbot_core::config::Config;
use chatbot_core::store::{self, IfMissing, Store};
use chatbot_tests::fake_http::{Answer, FakeServer, Part};
use chatbot_tests::wire::ollama_reply;
use serde_json::json;

/// The fake model's answers, in order: one in eight fails (a refusal Ollama
/// answers 400, or a 200 that is not JSON), which no retry hides, so the reply
/// fails after its charge. Enough for every model call of the run (a reply and
/// perhaps a title per request); past the end every answer is a reply.
fn script(requests: usize) -> Vec<Answer> {
    let reply = ollama_reply("A short reply from the fake model", 12, 7);
    let refusal = Answer::json(400, &json!({"error": "the fake model refuses this one on purpose"}));
    let body = b"not json at all".to_vec();
    let garbage = Answer {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        content_length: Some(body.len()),
        parts: vec![Part::Bytes(body)],
    };
    (0..3 * (requests + workload::WARM_UP_REQUESTS))
        .map(|i| match i % 16 {
            7 => refusal.clone(),
            15 => garbage.clone(),
            _ => reply.clone(),
        })
        .chain([reply.clone()])
        .collect()
}

/// The stack's store, when the settings name one (`infra/load.sh` exports them).
async fn stack_store() -> Option<Result<Arc<dyn Store>, String>> {
    std::env::var_os("STORE")?;
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => return Some(Err(err.to_string())),
    };
    Some(
        store::open(&config, &SharedAws::from_env(), IfMissing::Fail)
            .await
            .map_err(|err| format!("opening the stack's store: {err}")),
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("chatbot-load: {message}\n\n{}", options::USAGE);
            return ExitCode::from(2);
        }
    };
    let ollama = FakeServer::start_on(&format!("127.0.0.1:{}", options.ollama_port)).await;
    ollama.answer(script(options.requests));

    let client = api::Client::new(&options.base);
    let outcome = workload::run(Arc::new(client.clone()), &options).await;
    let mut failures = outcome.failures.clone();
    let checking = std::time::Instant::now();
    let store = match stack_store().await {
        Some(Ok(store)) => Some(store),
        Some(Err(err)) => {
            failures.push(err);
            None
        }
        None => {
            println!("store: not read (no STORE setting): the accounting is checked through the API only");
            None
        }
    };
    failures.extend(verify::all(&client, store.as_deref(), &outcome.users, options.tokens_per_request).await);

    report::print(&options, &outcome, ollama.recorded().len());
    println!("accounting checked in {:.1} s", checking.elapsed().as_secs_f64());
    if failures.is_empty() {
        println!(
            "accounting: OK (every accepted message stored once and in order; every balance its start less one charge per stored reply, refused and refunded requests charged nothing; no status a request may not answer)"
        );
        ExitCode::SUCCESS
    } else {
        for failure in failures.iter().take(50) {
            eprintln!("FAIL {failure}");
        }
        eprintln!("chatbot-load: {} invariant(s) broken", failures.len());
        ExitCode::from(1)
    }
}
