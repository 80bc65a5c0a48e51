//! `chatbot-load`: drives the API already running at `--base` (the functions under
//! `cargo lambda watch`, see `infra/load.sh`) with many users' mixed traffic for a
//! fixed count of requests and at most a fixed time, then checks through the API
//! that every accepted message is stored exactly once and in order, that every
//! balance is its starting value less the charges of its successful replies, and
//! that no request got a 5xx. Prints throughput and latency per route; exits 1 on
//! any broken invariant. The stack's model is a fake Ollama this process serves on
//! `--ollama-port`, so the load measures the API and the store, not a model.

mod api;
mod options;
mod report;
mod verify;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;

use chatbot_tests::fake_http::FakeServer;
use chatbot_tests::wire::ollama_reply;

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
    ollama.answer([ollama_reply("A short reply from the fake model", 12, 7)]);

    let client = api::Client::new(&options.base);
    let outcome = workload::run(Arc::new(client.clone()), &options).await;
    let mut failures = outcome.failures.clone();
    failures.extend(verify::all(&client, &outcome.users, options.tokens_per_request).await);

    report::print(&options, &outcome, ollama.recorded().len());
    if failures.is_empty() {
        println!("accounting: OK (every accepted message stored once and in order, every balance exact, no 5xx)");
        ExitCode::SUCCESS
    } else {
        for failure in failures.iter().take(50) {
            eprintln!("FAIL {failure}");
        }
        eprintln!("chatbot-load: {} invariant(s) broken", failures.len());
        ExitCode::from(1)
    }
}
