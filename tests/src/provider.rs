//! A deterministic model for tests: it answers `reply to: <last user message>`,
//! records what it was sent, and can be told to fail or to be slow.

use async_trait::async_trait;
use chatbot_core::llm::{GenerateRequest, Generation, Provider, ProviderError, Usage};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Behaviour {
    Answer,
    Fail(ProviderError),
    /// Answers after this long.
    Slow(Duration),
    /// Answers once as many requests as the barrier counts are all in the model:
    /// concurrent requests that surely overlap, without guessing at timing.
    Together(std::sync::Arc<tokio::sync::Barrier>),
}

pub struct ScriptedProvider {
    behaviour: Mutex<Behaviour>,
    /// Every request received, in order.
    pub requests: Mutex<Vec<GenerateRequest>>,
    budget: Mutex<usize>,
}

impl Default for ScriptedProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedProvider {
    pub fn new() -> Self {
        Self {
            behaviour: Mutex::new(Behaviour::Answer),
            requests: Mutex::new(Vec::new()),
            budget: Mutex::new(4096),
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn set_input_budget(&self, tokens: usize) {
        *self.budget.lock().unwrap() = tokens;
    }

    /// The requests that asked for a chat reply (not a title).
    pub fn reply_requests(&self) -> Vec<GenerateRequest> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.turns.last().is_some_and(|t| t.content.starts_with("Write a title")))
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn id(&self) -> &str {
        "scripted"
    }

    fn models(&self) -> Vec<String> {
        vec!["echo".into(), "echo-large".into()]
    }

    async fn is_available(&self) -> bool {
        true
    }

    fn input_budget(&self, _model: &str) -> usize {
        *self.budget.lock().unwrap()
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        self.requests.lock().unwrap().push(request.clone());
        let behaviour = self.behaviour.lock().unwrap().clone();
        match behaviour {
            Behaviour::Fail(err) => return Err(err),
            Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
            Behaviour::Together(barrier) => {
                barrier.wait().await;
            }
            Behaviour::Answer => {}
        }
        let last = request.turns.last().map(|t| t.content.clone()).unwrap_or_default();
        let text = format!("reply to: {last}");
        let prompt_tokens: usize = request.turns.iter().map(|t| t.content.split_whitespace().count()).sum();
        Ok(Generation {
            usage: Usage {
                prompt_tokens: prompt_tokens as u32,
                completion_tokens: text.split_whitespace().count() as u32,
            },
            text,
        })
    }
}

/// The scripted model under another provider's id and model (e.g. `openai`), for
/// routes that fix their provider (dialect D's prompt routes).
pub struct ScriptedAs {
    id: &'static str,
    model: &'static str,
    pub inner: std::sync::Arc<ScriptedProvider>,
}

impl ScriptedAs {
    pub fn new(id: &'static str, model: &'static str) -> Self {
        Self::sharing(id, model, std::sync::Arc::new(ScriptedProvider::new()))
    }

    /// Answers (and fails) as `inner` does.
    pub fn sharing(id: &'static str, model: &'static str, inner: std::sync::Arc<ScriptedProvider>) -> Self {
        Self { id, model, inner }
    }
}

#[async_trait]
impl Provider for ScriptedAs {
    fn id(&self) -> &str {
        self.id
    }

    fn models(&self) -> Vec<String> {
        vec![self.model.to_string()]
    }

    async fn is_available(&self) -> bool {
        true
    }

    fn input_budget(&self, model: &str) -> usize {
        self.inner.input_budget(model)
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        self.inner.generate(request).await
    }
}
