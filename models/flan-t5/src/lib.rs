//! Flan-T5 text generation for the chatbot API, on candle (CPU).
//!
//! [`Engine`] owns one loaded model and serves any number of requests;
//! [`prompt`] turns chat history into the single text T5 expects.

mod batch;
pub mod config;
pub mod engine;
pub mod error;
pub mod model;
pub mod prompt;
mod sampling;
mod stream;
mod weights;

pub use config::T5Config;
pub use engine::{Engine, FinishReason, GenerateOptions, LoadOptions, Output, Trace};
pub use error::{Error, Result};
pub use model::Quantization;
