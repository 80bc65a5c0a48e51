//! Flan-T5 in its own Lambda function. In AWS the model lives in a container-image
//! function sized for it (`models/inference`), and the API functions, which stay
//! small and start fast, call it with Lambda Invoke (`invoke::RemoteFlanT5`). This
//! module is what both ends share: the wire format, and the function's handler.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

use crate::{GenerateRequest, Generation, Provider, ProviderError, Role, Turn, Usage};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flan_t5;
    use async_trait::async_trait;

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
