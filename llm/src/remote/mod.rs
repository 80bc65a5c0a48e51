//! Providers reached over HTTP: OpenAI's Chat Completions, Google's Gemini
//! (Generative Language API) and Ollama. Each maps our turns to its roles, reads
//! usage from its answers, and never panics on a malformed or truncated answer.

pub mod gemini;
pub mod ollama;
pub mod openai;
pub mod transport;
