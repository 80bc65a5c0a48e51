//! One error type for the crate so the API layer can map failures to HTTP
//! statuses without string matching.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running the model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Named separately so an operator sees at once which download is missing.
    #[error("model directory {dir} has no {file}")]
    MissingFile { dir: PathBuf, file: &'static str },

    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid config.json: {0}")]
    Config(String),

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("invalid request: {0}")]
    Request(String),
}

/// Crate-wide result alias.
pub type Result<T> = std::result::Result<T, Error>;
