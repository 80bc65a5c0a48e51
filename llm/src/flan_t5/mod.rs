//! Flan-T5 as a provider. The API functions reach it in the inference function
//! (`llm::inference::RemoteFlanT5`), so no API function holds the weights; what
//! they share with that function (the provider id, the sizes offered, the input
//! budget, model ids) lives here, and the unavailable provider that answers 503
//! saying what to set.
//!
//! The candle engine itself (`load`, `FlanT5`) is behind the `engine` feature,
//! which only the inference function (`models/inference`) and the tests enable.

#[cfg(feature = "engine")]
mod engine;
#[cfg(feature = "engine")]
pub use engine::{load, FlanT5};

use async_trait::async_trait;

use super::{GenerateRequest, Generation, Provider, ProviderError};

pub const PROVIDER_ID: &str = "flan-t5";
pub const MODELS: &[&str] = &[
    "flan-t5-small",
    "flan-t5-base",
    "flan-t5-large",
    "flan-t5-xl",
    "flan-t5-xxl",
];
/// Flan-T5's encoder was trained on 512-token inputs (the engine's
/// `prompt::DEFAULT_ENCODER_BUDGET`; a test keeps them equal).
pub const INPUT_BUDGET: usize = 512;

/// How the inference function loads Flan-T5's weights (`FLAN_T5_QUANTIZE`):
/// the engine's options, named here so settings do not need the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlanT5Quantize {
    /// Exact f32 (the default).
    #[default]
    F32,
    Q8_0,
    Q4K,
}

impl FlanT5Quantize {
    /// The values the engine's `LoadOptions::parse` accepts.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "f32" | "none" => Some(Self::F32),
            "q8_0" | "q8" => Some(Self::Q8_0),
            "q4k" | "q4_k" => Some(Self::Q4K),
            _ => None,
        }
    }
}

/// What the inference function is told to load: `FLAN_T5_MODEL` (the checkpoint
/// name; its last part is the model id), `FLAN_T5_DIR` (the folder with its files)
/// and `FLAN_T5_QUANTIZE`. The API functions read the same settings (the model id
/// they offer, and whether weights were set where they are never read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub checkpoint: String,
    pub dir: Option<std::path::PathBuf>,
    pub quantize: FlanT5Quantize,
}

/// A setting with a value it cannot take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct BadSetting {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl Settings {
    /// From `read`, which gives a variable's value, a blank one counting as unset.
    pub fn read(read: impl Fn(&str) -> Option<String>) -> Result<Self, BadSetting> {
        let quantize = read("FLAN_T5_QUANTIZE").unwrap_or_else(|| "f32".into());
        Ok(Self {
            checkpoint: read("FLAN_T5_MODEL").unwrap_or_else(|| "google/flan-t5-base".into()),
            dir: read("FLAN_T5_DIR").map(Into::into),
            quantize: FlanT5Quantize::parse(&quantize).ok_or(BadSetting {
                name: "FLAN_T5_QUANTIZE",
                value: quantize,
                reason: "expected f32, q8_0 or q4k",
            })?,
        })
    }

    /// From the process environment (the inference function's `main`).
    pub fn from_env() -> Result<Self, BadSetting> {
        Self::read(|name| {
            let value = std::env::var(name).ok()?;
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_string())
        })
    }
}

/// The model id (`flan-t5-base`) of a checkpoint name (`google/flan-t5-base`).
pub fn model_id(checkpoint: &str) -> String {
    checkpoint.rsplit('/').next().unwrap_or(checkpoint).to_string()
}

/// Why `model` cannot answer where `loaded` is the size this deployment runs.
pub fn not_loaded(model: &str, loaded: &str) -> String {
    tracing::warn!(
        model,
        loaded,
        "another Flan-T5 was asked for: FLAN_T5_MODEL and FLAN_T5_DIR choose it"
    );
    format!("{model} is not available here: this server runs {loaded}.")
}

/// Why an API function has no Flan-T5: the model runs in the inference function
/// only, and `INFERENCE_FUNCTION` names it.
pub fn not_configured(weights_set: bool) -> FlanT5Unavailable {
    let mut reason = String::from(
        "Flan-T5 runs in the inference function: set INFERENCE_FUNCTION to its name (infra/run-local.sh sets flan-t5-inference, with AWS_ENDPOINT_URL_LAMBDA pointing at cargo lambda watch)",
    );
    if weights_set {
        reason.push_str("; FLAN_T5_DIR is read by that function only");
    }
    reason.push('.');
    FlanT5Unavailable::new(reason)
}

/// The provider when no weights could be loaded: listed, unavailable, and every
/// request a 503. The reason (which names settings) goes to the log; clients get
/// [`UNAVAILABLE`].
pub struct FlanT5Unavailable {
    reason: String,
}

/// What a client is told when Flan-T5 is not set up.
pub const UNAVAILABLE: &str = "Flan-T5 is not available on this server.";

impl FlanT5Unavailable {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }

    /// Why, for the operator (the log).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn unavailable(&self) -> ProviderError {
        tracing::warn!(reason = %self.reason, "Flan-T5 is unavailable");
        ProviderError::Unavailable(UNAVAILABLE.into())
    }
}

#[async_trait]
impl Provider for FlanT5Unavailable {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn models(&self) -> Vec<String> {
        MODELS.iter().map(|m| m.to_string()).collect()
    }

    async fn is_available(&self) -> bool {
        false
    }

    async fn unavailable_reason(&self, _model: &str) -> Option<String> {
        Some(UNAVAILABLE.into())
    }

    fn input_budget(&self, _model: &str) -> usize {
        INPUT_BUDGET
    }

    async fn generate(&self, _request: GenerateRequest) -> Result<Generation, ProviderError> {
        Err(self.unavailable())
    }

    async fn title(&self, _model: &str, _first_message: &str) -> Result<String, ProviderError> {
        Err(self.unavailable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_unavailable_with_the_reason() {
        let provider = FlanT5Unavailable::new("Flan-T5 weights are not installed: set FLAN_T5_DIR.");
        assert!(!provider.is_available().await);
        let err = provider
            .generate(GenerateRequest {
                model: "flan-t5-base".into(),
                turns: vec![],
                max_new_tokens: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Unavailable(_)));
        assert_eq!(err.to_string(), UNAVAILABLE, "the client's sentence names no setting");
        assert!(provider.reason().contains("FLAN_T5_DIR"), "the log's does");
    }

    #[tokio::test]
    async fn without_an_inference_function_the_log_says_what_to_set() {
        for weights_set in [false, true] {
            let provider = not_configured(weights_set);
            let err = provider.title("flan-t5-base", "hi").await.unwrap_err();
            assert!(matches!(err, ProviderError::Unavailable(_)));
            assert_eq!(err.to_string(), UNAVAILABLE);
            assert!(provider.reason().contains("INFERENCE_FUNCTION"));
            assert_eq!(provider.reason().contains("FLAN_T5_DIR"), weights_set);
        }
    }

    #[test]
    fn model_ids_come_from_checkpoint_names() {
        assert_eq!(model_id("google/flan-t5-base"), "flan-t5-base");
        assert_eq!(model_id("flan-t5-small"), "flan-t5-small");
    }
}
