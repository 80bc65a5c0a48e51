//! The core every Lambda function links (ARCHITECTURE.md): settings, errors, auth,
//! storage, billing, rate limits, LLM dispatch, and the handlers of every route.

pub mod accounts;
pub mod api;
pub mod auth;
/// AWS settings and lazily built clients (the `chatbot-runtime` crate).
pub use chatbot_runtime::aws;
pub mod billing;
pub mod config;
pub mod conversation;
pub mod error;
pub mod handlers;
pub mod http;
pub mod lambda;
/// The model side (the `chatbot-llm` crate): providers, dispatch, Flan-T5.
pub use chatbot_llm as llm;
pub mod ratelimit;
pub mod routes;
pub mod secrets;
pub mod state;
pub mod store;
pub mod time;
pub mod usage;
