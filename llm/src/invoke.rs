//! The API side of the inference function (feature `invoke`): Flan-T5 as a
//! provider that calls that function with Lambda Invoke, so no API function holds
//! the weights.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use chatbot_runtime::aws::{LazyClient, SharedAws};
use std::time::Duration;
use tokio::time::Instant;

use crate::flan_t5::{self, model_id, PROVIDER_ID};
use crate::inference::{InferenceRequest, InferenceResponse, WireTurn};
use crate::{GenerateRequest, Generation, Provider, ProviderError, Usage};

/// Flan-T5 reached through the inference function (`INFERENCE_FUNCTION`). Its
/// Lambda client (and the AWS settings) are built on the first call; locally
/// `AWS_ENDPOINT_URL_LAMBDA` points it at `cargo lambda watch`, which serves the
/// inference function too, without moving DynamoDB's endpoint.
pub struct RemoteFlanT5 {
    client: LazyClient<aws_sdk_lambda::Client>,
    function: String,
    /// The size the inference function was built with (`FLAN_T5_MODEL`).
    model: String,
    /// How long a request waits for the model (`PROVIDER_TIMEOUT_SECS`): sent along,
    /// so the function stops decoding when nobody waits any more.
    time_limit: Duration,
    /// The function's last answer to `status`, kept a while (see `STATUS_KEPT`).
    status: std::sync::Mutex<Option<Checked>>,
}

/// What the inference function said about its model, and when.
#[derive(Clone)]
struct Checked {
    at: Instant,
    reason: Option<String>,
}

/// How long the function's answer about its weights is believed: a loaded model
/// stays loaded for the life of the container; missing weights may be installed
/// and the function restarted, so that answer is asked again sooner.
const STATUS_KEPT: Duration = Duration::from_secs(300);
const STATUS_UNAVAILABLE_KEPT: Duration = Duration::from_secs(30);
/// How long the models listing waits for the function (a cold start loads the
/// weights: within Lambda's 10 s init) before it says it could not tell.
const STATUS_WAIT: Duration = Duration::from_secs(15);

impl RemoteFlanT5 {
    pub fn new(aws: SharedAws, function: &str, checkpoint: &str, time_limit: Duration) -> Self {
        Self {
            client: LazyClient::new(aws, aws_sdk_lambda::Client::new),
            function: function.to_string(),
            model: model_id(checkpoint),
            time_limit,
            status: std::sync::Mutex::new(None),
        }
    }

    /// Why the loaded size cannot answer (`None`: it can), as the inference
    /// function says; its answer is kept a while, so a listing asks at most once.
    async fn function_status(&self) -> Option<String> {
        let kept = self.status.lock().map(|kept| kept.clone()).unwrap_or(None);
        if let Some(kept) = kept {
            let keep = if kept.reason.is_none() {
                STATUS_KEPT
            } else {
                STATUS_UNAVAILABLE_KEPT
            };
            if kept.at.elapsed() < keep {
                return kept.reason;
            }
        }
        let request = InferenceRequest::Status {
            model: self.model.clone(),
        };
        let answer = match tokio::time::timeout(STATUS_WAIT, self.call(&request)).await {
            Ok(answer) => answer,
            // Not kept: the next listing asks again.
            Err(_) => {
                return Some(format!(
                    "The Flan-T5 inference function did not say within {} s whether {} is loaded (it may be starting).",
                    STATUS_WAIT.as_secs(),
                    self.model
                ))
            }
        };
        let reason = match answer {
            Ok(InferenceResponse::Status { reason }) => reason,
            Ok(InferenceResponse::Error { message, .. }) => Some(message),
            Ok(InferenceResponse::Generated { .. }) => {
                Some("The Flan-T5 inference function answered a status request with a generation.".into())
            }
            // Unreachable or broken: said, and not kept.
            Err(err) => return Some(err.to_string()),
        };
        if let Ok(mut kept) = self.status.lock() {
            *kept = Some(Checked {
                at: Instant::now(),
                reason: reason.clone(),
            });
        }
        reason
    }

    fn time_limit_ms(&self) -> Option<u64> {
        Some(self.time_limit.as_millis().try_into().unwrap_or(u64::MAX))
    }

    /// Whether the Lambda client has been built (by a first call).
    pub fn is_client_built(&self) -> bool {
        self.client.is_built()
    }

    /// One invocation of the function, its answer as sent.
    async fn call(&self, request: &InferenceRequest) -> Result<InferenceResponse, ProviderError> {
        let payload = serde_json::to_vec(request)
            .map_err(|_| ProviderError::Failed("The inference request could not be written.".into()))?;
        let output = self
            .client
            .get()
            .await
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|err| {
                tracing::error!(function = %self.function, error = %aws_sdk_lambda::error::DisplayErrorContext(&err), "invoking the inference function failed");
                ProviderError::Unavailable("Flan-T5 could not be reached.".into())
            })?;
        if let Some(kind) = output.function_error() {
            tracing::error!(function = %self.function, kind, "the inference function failed");
            return Err(ProviderError::Failed("Flan-T5 failed to answer.".into()));
        }
        let body = output.payload().map(|p| p.as_ref()).unwrap_or_default();
        serde_json::from_slice::<InferenceResponse>(body)
            .map_err(|_| ProviderError::Failed("Flan-T5 answered something unreadable.".into()))
    }

    async fn invoke(&self, request: &InferenceRequest) -> Result<Generation, ProviderError> {
        match self.call(request).await? {
            InferenceResponse::Generated {
                text,
                prompt_tokens,
                completion_tokens,
            } => Ok(Generation {
                text,
                usage: Usage {
                    prompt_tokens,
                    completion_tokens,
                },
            }),
            InferenceResponse::Error { code, message } => Err(ProviderError::from_code(&code, message)),
            InferenceResponse::Status { .. } => {
                Err(ProviderError::Failed("Flan-T5 answered something unreadable.".into()))
            }
        }
    }
}

#[async_trait]
impl Provider for RemoteFlanT5 {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn models(&self) -> Vec<String> {
        flan_t5::MODELS.iter().map(|m| m.to_string()).collect()
    }

    /// Whether the function has weights: asked of it (the API functions have none).
    async fn is_available(&self) -> bool {
        self.function_status().await.is_none()
    }

    async fn is_model_available(&self, model: &str) -> bool {
        self.unavailable_reason(model).await.is_none()
    }

    async fn unavailable_reason(&self, model: &str) -> Option<String> {
        if model != self.model {
            return Some(flan_t5::not_loaded(model, &self.model));
        }
        self.function_status().await
    }

    fn input_budget(&self, _model: &str) -> usize {
        // The function measures with the real tokenizer and drops what does not
        // fit; this side only needs a generous first cut.
        flan_t5::INPUT_BUDGET * 2
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        let turns = request.turns.iter().map(WireTurn::from).collect();
        self.invoke(&InferenceRequest::Chat {
            max_new_tokens: Some(request.reply_tokens()),
            model: request.model,
            turns,
            time_limit_ms: self.time_limit_ms(),
        })
        .await
    }

    async fn title(&self, model: &str, first_message: &str) -> Result<String, ProviderError> {
        let request = InferenceRequest::Title {
            model: model.to_string(),
            first_message: first_message.to_string(),
            time_limit_ms: self.time_limit_ms(),
        };
        Ok(self.invoke(&request).await?.text)
    }
}
