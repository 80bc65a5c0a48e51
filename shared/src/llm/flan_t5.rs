//! The Flan-T5 provider as the API sees it. Until the candle engine is linked in,
//! no weights can be loaded, so the provider is listed as unavailable and every
//! request to it is a 503 that says what to configure.

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
/// Flan-T5's encoder was trained on 512-token inputs.
pub const INPUT_BUDGET: usize = 512;

pub struct FlanT5Unavailable {
    reason: String,
}

impl FlanT5Unavailable {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
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

    fn is_available(&self) -> bool {
        false
    }

    fn input_budget(&self, _model: &str) -> usize {
        INPUT_BUDGET
    }

    async fn generate(&self, _request: GenerateRequest) -> Result<Generation, ProviderError> {
        Err(ProviderError::Unavailable(self.reason.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_unavailable_with_the_reason() {
        let provider = FlanT5Unavailable::new("Flan-T5 weights are not installed: set FLAN_T5_DIR.");
        assert!(!provider.is_available());
        let err = provider
            .generate(GenerateRequest {
                model: "flan-t5-base".into(),
                turns: vec![],
                max_new_tokens: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_api_error().status.as_u16(), 503);
        assert!(err.to_string().contains("FLAN_T5_DIR"));
    }
}
