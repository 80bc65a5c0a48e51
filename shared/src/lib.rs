//! The core every API function links (ARCHITECTURE.md): the HTTP edge (the route
//! table, the request pipeline, every surface's shapes and handlers, errors as
//! statuses) and the wiring (settings, the function's state, secrets). The layers
//! below are crates of their own, re-exported here so that every path reads the
//! same: the domain, the store, the model side and the runtime.

/// The domain (the `chatbot-domain` crate): accounts, credentials, chats, the reply
/// pipeline, billing, rate limits.
pub use chatbot_domain::{accounts, auth, billing, conversation, ratelimit};
/// AWS settings and lazily built clients (the `chatbot-runtime` crate).
pub use chatbot_runtime::aws;
pub mod config;
pub mod error;
pub mod http;
pub mod lambda;
/// The model side (the `chatbot-llm` crate): providers, dispatch, Flan-T5.
pub use chatbot_llm as llm;
pub mod routes;
pub mod secrets;
pub mod state;
pub mod store;
pub mod surfaces;
pub mod time;
