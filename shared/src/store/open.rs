//! Opening the store the settings name (`STORE`, `SQLITE_PATH`, `TABLE_NAME`), so
//! the functions and the operator command (`chatbot-admin`) act on the same one.

use std::sync::Arc;

use crate::aws::SharedAws;
use crate::config::{Config, StoreKind};
use chatbot_store::dynamodb::{table, DynamoStore};
use chatbot_store::Store;

/// What opening does when the database is not there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfMissing {
    /// Create it, as a function does on start: the SQLite file (and its folder),
    /// or the table on a local endpoint (in AWS the template owns the table).
    Create,
    /// Fail: an operator command must not turn a mistyped path or table name into
    /// a new, empty store and report success on it.
    Fail,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The SQLite file or the DynamoDB table does not exist (only with `IfMissing::Fail`).
    #[error("the store does not exist")]
    Missing,
    /// `STORE=sqlite` in a binary built without SQLite (a function as deployed).
    /// The cargo feature is named like the store.
    #[error("STORE={store}, but this binary was built without that store: build it with the cargo feature `{store}` (infra/run-local.sh builds the functions with `sqlite`)")]
    NotBuiltIn { store: &'static str },
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Opens the store `config` names. DynamoDB is always built in; SQLite only with
/// the core's `sqlite` feature (an API function's local builds, chatbot-admin, the
/// tests).
pub async fn open(config: &Config, aws: &SharedAws, if_missing: IfMissing) -> Result<Arc<dyn Store>, OpenError> {
    match config.store {
        StoreKind::Sqlite => open_sqlite(config, if_missing),
        StoreKind::DynamoDb => open_dynamodb(config, aws, if_missing).await,
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(config: &Config, if_missing: IfMissing) -> Result<Arc<dyn Store>, OpenError> {
    let path = &config.sqlite_path;
    if if_missing == IfMissing::Fail && !path.exists() {
        return Err(OpenError::Missing);
    }
    Ok(Arc::new(chatbot_store::sqlite::SqliteStore::open(path)?))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &Config, _: IfMissing) -> Result<Arc<dyn Store>, OpenError> {
    Err(OpenError::NotBuiltIn { store: "sqlite" })
}

async fn open_dynamodb(config: &Config, aws: &SharedAws, if_missing: IfMissing) -> Result<Arc<dyn Store>, OpenError> {
    let sdk = aws.config().await;
    let name = &config.table_name;
    match if_missing {
        IfMissing::Create => Ok(Arc::new(
            DynamoStore::connect(sdk, name, config.dynamodb_timeout()).await?,
        )),
        IfMissing::Fail => {
            let client = DynamoStore::client(sdk, config.dynamodb_timeout());
            if !table::exists(&client, name).await? {
                return Err(OpenError::Missing);
            }
            Ok(Arc::new(DynamoStore::new(client, name.as_str())))
        }
    }
}
