//! `cargo xtask gen` writes what the route table determines; `cargo xtask check`
//! fails, naming each stale file, when a committed file differs from it (CI);
//! `cargo xtask openapi` prints the OpenAPI document the API serves at
//! `/api/openapi.json`, for generating clients without a running server.

use std::process::ExitCode;

use xtask::{generate, repo_root, stale, Tables};

fn main() -> ExitCode {
    let repo = repo_root();
    let tables = Tables::core();
    match std::env::args().nth(1).as_deref() {
        Some("gen") => match generate(&repo, &tables) {
            Ok(written) if written.is_empty() => {
                println!("generated files are up to date");
                ExitCode::SUCCESS
            }
            Ok(written) => {
                for artifact in written {
                    let verb = if artifact.current.is_some() {
                        "updated"
                    } else {
                        "created"
                    };
                    println!("{verb} {}", artifact.path.display());
                }
                ExitCode::SUCCESS
            }
            Err(err) => fail(err),
        },
        Some("check") => match stale(&repo, &tables) {
            Ok(stale) if stale.is_empty() => {
                println!("generated files are up to date");
                ExitCode::SUCCESS
            }
            Ok(stale) => {
                for artifact in stale {
                    let state = if artifact.current.is_some() { "stale" } else { "missing" };
                    eprintln!("{state}: {}", artifact.path.display());
                }
                eprintln!("the route table changed: run `cargo xtask gen` and commit the result");
                ExitCode::FAILURE
            }
            Err(err) => fail(err),
        },
        Some("openapi") => {
            let doc = chatbot_core::routes::openapi::document();
            println!("{doc:#}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: cargo xtask gen | check | openapi");
            ExitCode::from(2)
        }
    }
}

fn fail(err: std::io::Error) -> ExitCode {
    eprintln!("cargo xtask: {err}");
    ExitCode::FAILURE
}
