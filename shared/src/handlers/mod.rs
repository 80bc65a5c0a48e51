//! One async function per route operation, over a parsed [`Call`](crate::http::call::Call).

pub mod accounts;
pub mod api_keys;
pub mod chats;
pub mod dialect_b;
pub mod dialect_d;
pub mod dialect_e;
pub mod messages;
pub mod meta;
pub mod openai;
pub mod page;
pub mod shares;
pub mod stream;
pub mod transfer;
pub mod usage;
