//! The store: the records and role traits with their SQLite and DynamoDB
//! implementations (the `chatbot-store` crate), and opening the one the settings
//! name (`open`, which needs the core's settings).

pub use chatbot_store::*;

mod open;

pub use open::{open, IfMissing, OpenError};
