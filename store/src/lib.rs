//! The storage boundary: the records (`records`), the role traits both backends
//! implement (`roles`; SQLite on a laptop, DynamoDB in AWS), and the store's own
//! error. The contract suite in `tests/` runs against every implementation.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
mod records;
mod roles;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use records::*;
pub use roles::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (username, email, chat id) already belongs to another record.
    #[error("{field} already exists")]
    Conflict { field: &'static str },
    /// The store could not be reached or did not answer in time, refused for now
    /// (throttled, busy, locked, full), or cancelled a transaction that met another:
    /// the request may succeed when tried again. The text is for the log.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;
