//! The domain (ARCHITECTURE.md): accounts and credentials, chats and the one reply
//! pipeline, billing and rate limits, as operations over the store's role traits
//! and the model side's providers. It knows no HTTP, no request, no function state
//! and no settings source: each operation is lent what it uses, and answers in its
//! own errors, which the edge (`chatbot-core`) maps to statuses once.

pub mod accounts;
pub mod auth;
pub mod billing;
pub mod conversation;
pub mod ratelimit;

/// The layers below, under the names the domain's code uses.
pub use chatbot_llm as llm;
pub use chatbot_store as store;
