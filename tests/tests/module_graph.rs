//! The core's top-level modules must not import each other in a circle (issue 8):
//! domain code (store, billing, conversation, llm…) never reaches back into the
//! HTTP edge that calls it. Read from the sources, so a new cycle fails here.
//! The layers split into crates (`chatbot-runtime`, `chatbot-llm`, `chatbot-store`,
//! `chatbot-domain`) cannot reach the layers above them at all (cargo refuses a
//! cycle); what the inference function, the domain and the store link is checked
//! below from `cargo tree`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn core_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Top-level module → the top-level modules its non-test code names as `crate::…`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = core_src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    graph.entry(top.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

/// A path from `from` back to itself, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_core_has_no_import_cycles() {
    let graph = imports();
    for read in ["routes", "surfaces", "http", "state", "error"] {
        assert!(graph.contains_key(read), "{read} was read: {graph:?}");
    }
    // The surfaces are called by the routing and never call it.
    assert!(graph["routes"].contains("surfaces"), "{graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("an import cycle: {}", cycle.join(" → "));
        }
    }
}

/// Handlers call domain operations over the roles `AppState` lends
/// (`call.state.chats()`, `.messages()`…), never the whole store (issue 22). The
/// health check is the one exception: it probes the store itself.
#[test]
fn no_handler_reaches_the_whole_store() {
    let root = core_src().join("surfaces");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "the surfaces were read: {files:?}");
    let mut reaching = Vec::new();
    for file in files {
        if file.ends_with("service/status.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.split_whitespace())
            .collect();
        if code.contains("state.store") {
            reaching.push(file.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    assert!(
        reaching.is_empty(),
        "handlers that reach the store directly: {reaching:?}"
    );
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
            .collect();
    assert_eq!(cycle_through(&graph, "a").unwrap(), ["a", "b", "c", "a"]);
    assert!(cycle_through(&graph, "d").is_none());
}

/// The crates a package links in normal builds (`cargo tree`), by name.
fn linked_crates(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(String::from))
        .collect()
}

/// The layers are crates, so what a binary links is what its manifest says: the
/// inference function gets the model side and the runtime, never the store, the
/// HTTP edge, an HTTP client or the AWS SDK (ARCHITECTURE.md).
#[test]
fn the_inference_function_links_the_model_side_only() {
    let linked = linked_crates("flan-t5-inference");
    for needed in ["chatbot-llm", "chatbot-runtime", "flan-t5", "candle-core"] {
        assert!(linked.contains(needed), "{needed} is linked: {linked:?}");
    }
    for absent in [
        "chatbot-core",
        "rusqlite",
        "aws-sdk-dynamodb",
        "aws-config",
        "aws-sdk-lambda",
        "argon2",
        "utoipa",
        "lambda_http",
        "reqwest",
    ] {
        assert!(!linked.contains(absent), "the inference function links {absent}");
    }
    // The domain sees the store and the model side, never the HTTP edge, the
    // OpenAPI schemas, an HTTP client, the Lambda runtime or the secrets.
    let domain = linked_crates("chatbot-domain");
    assert!(
        domain.contains("chatbot-store") && domain.contains("chatbot-llm"),
        "{domain:?}"
    );
    for absent in [
        "chatbot-core",
        "lambda_http",
        "lambda_runtime",
        "utoipa",
        "reqwest",
        "aws-sdk-lambda",
        "aws-sdk-secretsmanager",
    ] {
        assert!(!domain.contains(absent), "the domain links {absent}");
    }
    let store = linked_crates("chatbot-store");
    assert!(
        !store.contains("chatbot-domain") && !store.contains("chatbot-core") && !store.contains("lambda_http"),
        "the store links nothing above it"
    );
    let api = linked_crates("send-chat");
    assert!(
        api.contains("chatbot-core") && !api.contains("flan-t5") && !api.contains("candle-core"),
        "an API function links the core, not the engine"
    );
}

/// The executables `cargo build -p <each of packages>` makes, by name.
fn built(packages: &[&str]) -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "--offline", "--message-format=json"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let output = command.current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|message| {
            let executable = message["executable"].as_str()?;
            let name = message["target"]["name"].as_str()?;
            Some((name.to_string(), PathBuf::from(executable)))
        })
        .collect()
}

/// Whether `text` is in what the binary loads into memory (its code and data, not
/// its debug info, which the dev profile keeps for code the linker dropped).
fn contains(binary: &Path, text: &str) -> bool {
    loaded_sections(&std::fs::read(binary).unwrap())
        .iter()
        .any(|section| section.windows(text.len()).any(|w| w == text.as_bytes()))
}

/// The sections of a 64-bit little-endian ELF file that are loaded (`SHF_ALLOC`)
/// and have bytes in the file (not `SHT_NOBITS`).
fn loaded_sections(elf: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&elf[..6], b"\x7fELF\x02\x01", "a 64-bit little-endian ELF file");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (table, entry_size, count) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c));
    (0..count)
        .map(|i| table + i * entry_size)
        .filter(|header| u64_at(header + 8) & 0x2 != 0 && u32_at(header + 4) != 8)
        .map(|header| &elf[u64_at(header + 24)..][..u64_at(header + 32)])
        .collect()
}

/// A function's binary holds its own routes only (`routes_of!`), so the linker
/// leaves the other routes' handlers out: `register` has its answer's message and
/// argon2, `health`, the fallback and the document's function neither, and
/// `health` and `register` not the OpenAI chunks' object name.
/// And the state makes the provider clients and the cursor key's secret on first
/// use only (`AppState::llm`, `AppState::cursor_keys`), so a function links them
/// only when its routes choose a model or page: `register` links neither,
/// `list-chats` Secrets Manager alone, `send-chat` all three. (A crate is linked
/// when its source paths, which its panics name, are in the binary.)
#[test]
fn an_api_function_links_only_its_own_routes_and_the_clients_they_use() {
    let binaries = built(&[
        "health",
        "register",
        "list-chats",
        "send-chat",
        "route-fallback",
        "get-openapi",
    ]);
    let (health, register) = (&binaries["health"], &binaries["register"]);
    assert!(contains(register, "Registered successfully!"), "register's own handler");
    assert!(contains(register, "/argon2-"), "register hashes passwords");
    // The fallback reads every route's path and the document every route's docs,
    // from copies of the table without handlers.
    for function in ["health", "route-fallback", "get-openapi"] {
        let binary = &binaries[function];
        assert!(
            !contains(binary, "Registered successfully!") && !contains(binary, "/argon2-"),
            "{function} links register's handler"
        );
    }
    for binary in [health, register] {
        assert!(
            !contains(binary, "chat.completion.chunk"),
            "{} links the OpenAI-compatible routes",
            binary.display()
        );
    }
    let clients = ["/aws-sdk-secretsmanager-", "/aws-sdk-lambda-", "/reqwest-"];
    let links = |function: &str| -> Vec<&str> {
        clients
            .into_iter()
            .filter(|client| contains(&binaries[function], client))
            .collect()
    };
    assert_eq!(links("health"), Vec::<&str>::new());
    assert_eq!(links("register"), Vec::<&str>::new());
    assert_eq!(links("list-chats"), ["/aws-sdk-secretsmanager-"]);
    assert_eq!(links("send-chat"), clients);
    // Built as `sam build` builds them (no `sqlite` feature): DynamoDB, no SQLite.
    for function in ["health", "register", "list-chats", "send-chat"] {
        let binary = &binaries[function];
        assert!(contains(binary, "/aws-sdk-dynamodb-"), "{function} links DynamoDB");
        assert!(!contains(binary, "/rusqlite-"), "{function} links SQLite");
    }
}

/// A function built without SQLite (as deployed) that is told `STORE=sqlite`
/// stops at start with the reason, and creates no database file.
#[test]
fn a_function_built_without_sqlite_refuses_it_at_start() {
    let binaries = built(&["health"]);
    let scratch = tempfile::tempdir().unwrap();
    let database = scratch.path().join("chatbot.sqlite3");
    let output = std::process::Command::new(&binaries["health"])
        .env("STORE", "sqlite")
        .env("SQLITE_PATH", &database)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("STORE=sqlite, but this binary was built without that store")
            && stderr.contains("cargo feature `sqlite`"),
        "{stderr}"
    );
    assert!(!database.exists());
}
