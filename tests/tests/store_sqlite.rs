//! The store contract against SQLite, each case on its own database file.

use chatbot_core::store::sqlite::SqliteStore;
use chatbot_tests::contract::SharedStore;
use std::sync::Arc;

async fn sqlite() -> SharedStore {
    // The directory must outlive the store; leaking it keeps the file for the test's
    // lifetime; it sits under target/tmp, which `cargo clean` removes.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
    Arc::new(SqliteStore::open(&dir.join("contract.sqlite3")).unwrap())
}

chatbot_tests::store_contract!(sqlite());
