//! The core every Lambda function links (ARCHITECTURE.md): settings, errors, auth,
//! storage, billing, rate limits, LLM dispatch, and the handlers of every route.

pub mod api;
pub mod auth;
pub mod aws;
pub mod billing;
pub mod config;
pub mod conversation;
pub mod error;
pub mod handlers;
pub mod http;
pub mod lambda;
pub mod llm;
pub mod ratelimit;
pub mod routes;
pub mod secrets;
pub mod state;
pub mod store;
pub mod time;
pub mod usage;
