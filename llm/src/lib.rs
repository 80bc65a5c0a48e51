//! The model side of the chatbot: one trait every provider implements, the registry
//! that picks a provider and model for a request (API.md §3), context selection and
//! titles, and Flan-T5 in its own Lambda function (`inference`: what the function
//! and its callers share).
//!
//! Features say what a binary links: `remote` the HTTP providers (OpenAI, Gemini,
//! Ollama), `invoke` the provider that calls the inference function, `engine` the
//! candle engine (the inference function only), `schema` the OpenAPI schemas of the
//! types the API shows. Without features it holds no HTTP client, no AWS SDK and no
//! store: what the inference function needs beside the engine.

pub mod context;
pub mod flan_t5;
pub mod inference;
#[cfg(feature = "invoke")]
pub mod invoke;
pub mod keys;
#[cfg(feature = "remote")]
pub mod remote;
pub mod title;

use async_trait::async_trait;
use futures::stream::BoxStream;
use std::sync::Arc;

/// Who wrote a message: the person, or the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// One message of the context sent to a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

impl Turn {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// `MAX_REPLY_TOKENS`' default (API.md §5): the most tokens a reply may have.
pub const DEFAULT_MAX_REPLY_TOKENS: u32 = 1024;
/// The highest `MAX_REPLY_TOKENS` a deployment may set: past every provider's own
/// output limit, so a typo cannot lift the bound.
pub const MAX_REPLY_TOKENS_LIMIT: u32 = 65_536;

/// The output bound of one reply (API.md §6): what the client asked for
/// (`max_tokens`), clamped to the deployment's `cap` (`MAX_REPLY_TOKENS`), or the
/// cap when it asked nothing. Every provider is sent it, so no model call is
/// unbounded.
pub fn reply_tokens(asked: Option<u32>, cap: u32) -> u32 {
    asked.map_or(cap, |asked| asked.min(cap))
}

#[derive(Clone, Debug)]
pub struct GenerateRequest {
    pub model: String,
    /// Oldest first; the last is the user message to answer.
    pub turns: Vec<Turn>,
    /// The most tokens the reply may have. The reply pipeline always sets it
    /// (`reply_tokens`); a provider given none sends `DEFAULT_MAX_REPLY_TOKENS`.
    pub max_new_tokens: Option<u32>,
}

impl GenerateRequest {
    /// The output bound a provider sends: the request's, or the default one.
    pub fn reply_tokens(&self) -> u32 {
        self.max_new_tokens.unwrap_or(DEFAULT_MAX_REPLY_TOKENS)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    pub text: String,
    pub usage: Usage,
}

/// Why a model call failed, in the terms API.md gives the client (the core's
/// `error` module maps each to its status).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    /// No key, no weights, or the provider said it cannot serve now (503).
    #[error("{0}")]
    Unavailable(String),
    /// The call ran out of time (504).
    #[error("{0}")]
    Timeout(String),
    /// The provider answered with an error or nonsense (502).
    #[error("{0}")]
    Failed(String),
}

impl ProviderError {
    /// The error a `code` names (as the inference function's answer carries it);
    /// an unknown code is a failure.
    pub fn from_code(code: &str, message: String) -> Self {
        match code {
            "provider_unavailable" => Self::Unavailable(message),
            "provider_timeout" => Self::Timeout(message),
            _ => Self::Failed(message),
        }
    }

    /// A stable snake_case name for clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "provider_unavailable",
            Self::Timeout(_) => "provider_timeout",
            Self::Failed(_) => "provider_failed",
        }
    }
}

/// One item of a streamed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The next piece of the reply's text.
    Text(String),
    /// The token counts, when the provider reports them (usually last).
    Usage(Usage),
}

/// A reply as the model produces it. It ends after the last piece; a provider that
/// breaks off mid-way ends it with an error item instead.
pub type ChunkStream = BoxStream<'static, Result<Chunk, ProviderError>>;

#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider id used in requests: `flan-t5`, `openai`, …
    fn id(&self) -> &str;
    /// The models offered; the first is the provider's default.
    fn models(&self) -> Vec<String>;
    /// False when no key or weights are configured. Async: a provider's key may be
    /// read (from the secret) on first use.
    async fn is_available(&self) -> bool;
    /// Whether this model can answer here (a Flan-T5 container loads one size).
    async fn is_model_available(&self, _model: &str) -> bool {
        self.is_available().await
    }
    /// Why `model` cannot answer here, in words for a client (what the server
    /// needs set); `None` when it can. Providers that know say exactly what.
    async fn unavailable_reason(&self, model: &str) -> Option<String> {
        if self.is_model_available(model).await {
            None
        } else {
            Some(format!("{} is not configured on this server.", self.id()))
        }
    }
    /// How many tokens of context `model` takes in.
    fn input_budget(&self, model: &str) -> usize;
    /// The size of `text` in the model's tokens (an estimate where the provider's
    /// tokenizer is not at hand).
    fn count_tokens(&self, text: &str) -> usize {
        estimate_tokens(text)
    }
    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError>;
    /// A raw title for a chat that starts with `first_message` (cleaned by
    /// `title::clean`). Providers with a better prompt of their own override it.
    async fn title(&self, model: &str, first_message: &str) -> Result<String, ProviderError> {
        let request = GenerateRequest {
            model: model.to_string(),
            turns: vec![Turn::user(title::prompt(first_message))],
            max_new_tokens: Some(16),
        };
        Ok(self.generate(request).await?.text)
    }
    /// Streams the reply; providers without native streaming send it in one piece.
    async fn stream(&self, request: GenerateRequest) -> Result<ChunkStream, ProviderError> {
        let generation = self.generate(request).await?;
        let chunks = [Ok(Chunk::Text(generation.text)), Ok(Chunk::Usage(generation.usage))];
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}

/// About four characters a token for English text, rounded up; a word at least.
pub fn estimate_tokens(text: &str) -> usize {
    let chars = text.chars().count();
    chars.div_ceil(4).max(text.split_whitespace().count())
}

/// Why a request's provider and model cannot be used. The sentences are written
/// for clients.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChoiceError {
    #[error("Unknown provider {provider:?}; choose one of: {}.", known.join(", "))]
    UnknownProvider { provider: String, known: Vec<String> },
    #[error("The provider {provider} offers no model {model:?}; choose one of: {}.", offered.join(", "))]
    UnknownModel {
        provider: String,
        model: String,
        offered: Vec<String>,
    },
    #[error("The model {model:?} does not belong to the provider {provider:?}.")]
    WrongProvider { provider: String, model: String },
    /// A deployment bug: a provider with an empty model list.
    #[error("provider {0} offers no model")]
    NoModels(String),
}

/// Where a request goes: the provider and one of its models.
#[derive(Clone)]
pub struct Choice {
    pub provider: Arc<dyn Provider>,
    pub model: String,
}

/// The providers this deployment offers and the default choice.
#[derive(Clone)]
pub struct Dispatch {
    providers: Vec<Arc<dyn Provider>>,
    default_provider: String,
    default_model: String,
}

impl Dispatch {
    pub fn new(providers: Vec<Arc<dyn Provider>>, default_provider: &str, default_model: &str) -> Self {
        Self {
            providers,
            default_provider: default_provider.to_string(),
            default_model: default_model.to_string(),
        }
    }

    pub fn providers(&self) -> &[Arc<dyn Provider>] {
        &self.providers
    }

    pub fn is_default(&self, provider: &str, model: &str) -> bool {
        provider == self.default_provider && model == self.default_model
    }

    /// Picks the provider and model of a request. `model` may be written
    /// `provider/model`; without a provider the default one is used, and without a
    /// model that provider's default.
    pub fn choose(&self, provider: Option<&str>, model: Option<&str>) -> Result<Choice, ChoiceError> {
        let (provider_id, model) = match (provider, model) {
            (provider, Some(model)) if model.contains('/') => {
                let (from_model, name) = model.split_once('/').unwrap_or_default();
                if let Some(provider) = provider.filter(|p| *p != from_model) {
                    return Err(ChoiceError::WrongProvider {
                        provider: provider.to_string(),
                        model: model.to_string(),
                    });
                }
                (from_model.to_string(), Some(name.to_string()))
            }
            (provider, model) => (
                provider.unwrap_or(&self.default_provider).to_string(),
                model.map(String::from),
            ),
        };
        let Some(found) = self.providers.iter().find(|p| p.id() == provider_id) else {
            return Err(ChoiceError::UnknownProvider {
                provider: provider_id,
                known: self.providers.iter().map(|p| p.id().to_string()).collect(),
            });
        };
        let offered = found.models();
        let model = match model {
            Some(model) if offered.contains(&model) => model,
            Some(model) => {
                return Err(ChoiceError::UnknownModel {
                    provider: provider_id,
                    model,
                    offered,
                })
            }
            None if provider_id == self.default_provider && offered.contains(&self.default_model) => {
                self.default_model.clone()
            }
            None => offered
                .first()
                .cloned()
                .ok_or_else(|| ChoiceError::NoModels(provider_id.clone()))?,
        };
        Ok(Choice {
            provider: found.clone(),
            model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str, Vec<&'static str>);

    #[async_trait]
    impl Provider for Named {
        fn id(&self) -> &str {
            self.0
        }
        fn models(&self) -> Vec<String> {
            self.1.iter().map(|m| m.to_string()).collect()
        }
        async fn is_available(&self) -> bool {
            true
        }
        fn input_budget(&self, _: &str) -> usize {
            512
        }
        async fn generate(&self, _: GenerateRequest) -> Result<Generation, ProviderError> {
            Err(ProviderError::Failed("unused".into()))
        }
    }

    fn dispatch() -> Dispatch {
        Dispatch::new(
            vec![
                Arc::new(Named("flan-t5", vec!["flan-t5-small", "flan-t5-base"])),
                Arc::new(Named("openai", vec!["gpt-4o-mini", "gpt-4o"])),
            ],
            "flan-t5",
            "flan-t5-base",
        )
    }

    #[test]
    fn defaults_apply_when_nothing_is_asked() {
        let choice = dispatch().choose(None, None).unwrap();
        assert_eq!(
            (choice.provider.id(), choice.model.as_str()),
            ("flan-t5", "flan-t5-base")
        );
        let choice = dispatch().choose(Some("openai"), None).unwrap();
        assert_eq!(choice.model, "gpt-4o-mini");
    }

    #[test]
    fn model_may_name_its_provider() {
        let choice = dispatch().choose(None, Some("openai/gpt-4o")).unwrap();
        assert_eq!((choice.provider.id(), choice.model.as_str()), ("openai", "gpt-4o"));
        let err = dispatch().choose(Some("flan-t5"), Some("openai/gpt-4o")).err().unwrap();
        assert!(matches!(err, ChoiceError::WrongProvider { .. }));
    }

    #[test]
    fn unknown_names_say_what_there_is() {
        let err = dispatch().choose(Some("claude"), None).err().unwrap();
        assert_eq!(
            err.to_string(),
            "Unknown provider \"claude\"; choose one of: flan-t5, openai."
        );
        let err = dispatch().choose(None, Some("gpt-4o")).err().unwrap();
        assert!(matches!(err, ChoiceError::UnknownModel { ref provider, .. } if provider == "flan-t5"));
    }

    #[test]
    fn a_reply_is_bounded_by_the_cap_whatever_is_asked() {
        assert_eq!(reply_tokens(None, 1024), 1024);
        assert_eq!(reply_tokens(Some(20), 1024), 20);
        assert_eq!(reply_tokens(Some(4096), 1024), 1024);
        assert_eq!(reply_tokens(Some(u32::MAX), 64), 64);
        let request = GenerateRequest {
            model: "m".into(),
            turns: vec![],
            max_new_tokens: None,
        };
        assert_eq!(request.reply_tokens(), DEFAULT_MAX_REPLY_TOKENS);
    }

    #[test]
    fn token_estimate_counts_words_at_least() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a b c d e"), 5);
        assert_eq!(estimate_tokens("abcdefgh"), 2);
    }
}
