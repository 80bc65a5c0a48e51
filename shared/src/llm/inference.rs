//! Flan-T5 in its own Lambda function. In AWS the model lives in a container-image
//! function sized for it (`models/inference`), and the API functions, which stay
//! small and start fast, call it with Lambda Invoke. This module holds both ends:
//! the wire format, the function's handler, and the provider that invokes it.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

use super::flan_t5::{self, model_id, PROVIDER_ID};
use super::{GenerateRequest, Generation, Provider, ProviderError, Turn, Usage};
use crate::aws::{LazyClient, SharedAws};
use crate::store::Role;

/// What the API asks of the inference function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case", deny_unknown_fields)]
pub enum InferenceRequest {
    /// Answer the last user turn of `turns` (oldest first).
    Chat {
        model: String,
        turns: Vec<WireTurn>,
        max_new_tokens: Option<u32>,
        /// How long the caller waits, in milliseconds: the function stops decoding
        /// when it is over (absent: until the function's own timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_limit_ms: Option<u64>,
    },
    /// A raw title for a chat starting with `first_message`.
    Title {
        model: String,
        first_message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_limit_ms: Option<u64>,
    },
    /// Whether `model` can answer here (the function has its weights): the
    /// models listing asks, so it never offers a model whose every chat is a 503.
    Status { model: String },
}

impl InferenceRequest {
    fn time_limit(&self) -> Option<Duration> {
        match self {
            Self::Chat { time_limit_ms, .. } | Self::Title { time_limit_ms, .. } => {
                time_limit_ms.map(Duration::from_millis)
            }
            Self::Status { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireTurn {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// The function's answer. A failure is an `error` (with the `ProviderError` code
/// the API turns back into that error) rather than a Lambda function error, so the
/// API can tell a request the model refused from a broken function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceResponse {
    Generated {
        text: String,
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    Error {
        /// `ProviderError::code`: `provider_unavailable`, `provider_timeout` or
        /// `provider_failed` (anything else reads as failed).
        code: String,
        message: String,
    },
    /// The answer to `status`: why the model cannot answer here, `None` when it can.
    Status {
        #[serde(default)]
        reason: Option<String>,
    },
}

impl From<&Turn> for WireTurn {
    fn from(turn: &Turn) -> Self {
        Self {
            role: turn.role.as_str().to_string(),
            content: turn.content.clone(),
        }
    }
}

fn to_turns(wire: Vec<WireTurn>) -> Result<Vec<Turn>, ProviderError> {
    wire.into_iter()
        .map(|t| match Role::parse(&t.role) {
            Some(role) => Ok(Turn {
                role,
                content: t.content,
            }),
            None => Err(ProviderError::Failed(format!(
                "Unknown role {:?} in an inference request.",
                t.role
            ))),
        })
        .collect()
}

fn error_response(err: ProviderError) -> InferenceResponse {
    InferenceResponse::Error {
        code: err.code().to_string(),
        message: err.to_string(),
    }
}

/// The inference function's handler: runs `provider` (the loaded engine) on a
/// request, for no longer than the caller waits (`time_limit_ms`) nor past
/// `deadline` (the invocation's own). Past either, the generation is dropped, which
/// stops the engine within one decoding step, and the answer is a timeout.
pub async fn answer(
    provider: &dyn Provider,
    request: InferenceRequest,
    deadline: Option<Instant>,
) -> InferenceResponse {
    if let InferenceRequest::Status { model } = &request {
        return InferenceResponse::Status {
            reason: provider.unavailable_reason(model).await,
        };
    }
    let limit = request.time_limit().map(|limit| Instant::now() + limit);
    let until = [limit, deadline].into_iter().flatten().min();
    let run = run(provider, request);
    let result = match until {
        Some(until) => tokio::time::timeout_at(until, run).await.unwrap_or_else(|_| {
            Err(ProviderError::Timeout(
                "Flan-T5 did not finish within the time the caller waits.".into(),
            ))
        }),
        None => run.await,
    };
    match result {
        Ok(generation) => InferenceResponse::Generated {
            text: generation.text,
            prompt_tokens: generation.usage.prompt_tokens,
            completion_tokens: generation.usage.completion_tokens,
        },
        Err(err) => error_response(err),
    }
}

/// When this invocation must have answered: Lambda's deadline (milliseconds since
/// the epoch) less a margin to write the answer, as a monotonic instant. Past it
/// the generation stops, and the caller gets a timeout rather than a killed
/// function.
pub fn invocation_deadline(deadline_ms: u64) -> Option<Instant> {
    const MARGIN: Duration = Duration::from_millis(500);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    // Lambda sends an epoch time in the future. A deadline already past when the
    // invocation starts is no deadline: `cargo lambda watch` sends the timeout
    // itself (600000) in this header, and a runtime may leave it 0.
    let left = Duration::from_millis(deadline_ms).checked_sub(now)?;
    Some(Instant::now() + left.saturating_sub(MARGIN))
}

async fn run(provider: &dyn Provider, request: InferenceRequest) -> Result<Generation, ProviderError> {
    match request {
        InferenceRequest::Chat {
            model,
            turns,
            max_new_tokens,
            ..
        } => match to_turns(turns) {
            Ok(turns) => {
                provider
                    .generate(GenerateRequest {
                        model,
                        turns,
                        max_new_tokens,
                    })
                    .await
            }
            Err(err) => Err(err),
        },
        InferenceRequest::Title {
            model, first_message, ..
        } => provider.title(&model, &first_message).await.map(|text| Generation {
            text,
            usage: Usage::default(),
        }),
        InferenceRequest::Status { .. } => Err(ProviderError::Failed("A status request is not a generation.".into())),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_tagged_json() {
        let request = InferenceRequest::Chat {
            model: "flan-t5-base".into(),
            turns: vec![WireTurn::from(&Turn::user("hi"))],
            max_new_tokens: None,
            time_limit_ms: Some(25_000),
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["task"], "chat");
        assert_eq!(json["turns"][0]["role"], "user");
        let back: InferenceRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, request);
        assert!(serde_json::from_str::<InferenceRequest>(r#"{"task":"dance"}"#).is_err());
    }

    #[tokio::test]
    async fn bad_roles_are_refused_not_guessed() {
        let provider = flan_t5::FlanT5Unavailable::new("no weights");
        let request = InferenceRequest::Chat {
            model: "flan-t5-base".into(),
            turns: vec![WireTurn {
                role: "system".into(),
                content: "x".into(),
            }],
            max_new_tokens: None,
            time_limit_ms: None,
        };
        assert!(matches!(
            answer(&provider, request, None).await,
            InferenceResponse::Error { ref code, .. } if code == "provider_failed"
        ));
        let title = InferenceRequest::Title {
            model: "flan-t5-base".into(),
            first_message: "hi".into(),
            time_limit_ms: None,
        };
        assert!(matches!(
            answer(&provider, title, None).await,
            InferenceResponse::Error { ref code, .. } if code == "provider_unavailable"
        ));
    }

    /// Never answers; notes when its call was dropped.
    struct Endless(std::sync::Arc<std::sync::atomic::AtomicBool>);

    struct NoteDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Drop for NoteDrop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl Provider for Endless {
        fn id(&self) -> &str {
            "endless"
        }
        fn models(&self) -> Vec<String> {
            vec!["m".into()]
        }
        async fn is_available(&self) -> bool {
            true
        }
        fn input_budget(&self, _: &str) -> usize {
            512
        }
        async fn generate(&self, _: GenerateRequest) -> Result<Generation, ProviderError> {
            let _noted = NoteDrop(self.0.clone());
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn past_the_callers_time_or_the_invocations_deadline_the_call_is_dropped() {
        let chat = |time_limit_ms| InferenceRequest::Chat {
            model: "m".into(),
            turns: vec![WireTurn::from(&Turn::user("hi"))],
            max_new_tokens: None,
            time_limit_ms,
        };
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let provider = Endless(dropped.clone());
        let answered = answer(&provider, chat(Some(20)), None).await;
        assert!(
            matches!(answered, InferenceResponse::Error { ref code, .. } if code == "provider_timeout"),
            "{answered:?}"
        );
        assert!(
            dropped.swap(false, std::sync::atomic::Ordering::SeqCst),
            "the generation was dropped"
        );
        // The invocation's own deadline, with no limit from the caller.
        let soon = Instant::now() + Duration::from_millis(20);
        let answered = answer(&provider, chat(None), Some(soon)).await;
        assert!(matches!(answered, InferenceResponse::Error { ref code, .. } if code == "provider_timeout"));
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_status_request_says_whether_the_weights_are_loaded() {
        let status = |model: &str| InferenceRequest::Status { model: model.into() };
        let missing = flan_t5::FlanT5Unavailable::new("Flan-T5 weights are not installed: set FLAN_T5_DIR.");
        let answered = answer(&missing, status("flan-t5-base"), None).await;
        assert_eq!(
            answered,
            InferenceResponse::Status {
                // What a user may read: the setting to change stays in the logs.
                reason: Some("Flan-T5 is not available on this server.".into())
            }
        );
        let loaded = Endless(Default::default());
        assert_eq!(
            answer(&loaded, status("m"), None).await,
            InferenceResponse::Status { reason: None }
        );
        // On the wire: {"task":"status","model":…} and {"status":{"reason":…}}.
        let wire = serde_json::to_value(status("flan-t5-base")).unwrap();
        assert_eq!(wire, serde_json::json!({"task": "status", "model": "flan-t5-base"}));
        let back: InferenceResponse = serde_json::from_str(r#"{"status":{}}"#).unwrap();
        assert_eq!(back, InferenceResponse::Status { reason: None });
    }

    #[test]
    fn only_a_future_epoch_deadline_bounds_the_invocation() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let start = Instant::now();
        let bound = invocation_deadline(now_ms + 30_000).expect("a real Lambda deadline");
        // Half a second kept for the answer: a little under 29.5 s from now.
        assert!(bound > start + Duration::from_secs(29) && bound <= start + Duration::from_millis(29_500));
        assert!(
            invocation_deadline(600_000).is_none(),
            "cargo lambda watch's timeout, not a time"
        );
        assert!(invocation_deadline(0).is_none());
        assert!(invocation_deadline(now_ms - 1).is_none(), "already past");
    }
}
