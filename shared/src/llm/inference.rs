//! Flan-T5 in its own Lambda function. In AWS the model lives in a container-image
//! function sized for it (`models/inference`), and the API functions, which stay
//! small and start fast, call it with Lambda Invoke. This module holds both ends:
//! the wire format, the function's handler, and the provider that invokes it.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use serde::{Deserialize, Serialize};

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
    },
    /// A raw title for a chat starting with `first_message`.
    Title { model: String, first_message: String },
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

/// The inference function's handler: runs `provider` (the loaded engine) on a request.
pub async fn answer(provider: &dyn Provider, request: InferenceRequest) -> InferenceResponse {
    let result = match request {
        InferenceRequest::Chat {
            model,
            turns,
            max_new_tokens,
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
        InferenceRequest::Title { model, first_message } => {
            provider.title(&model, &first_message).await.map(|text| Generation {
                text,
                usage: Usage::default(),
            })
        }
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

/// Flan-T5 reached through the inference function (`INFERENCE_FUNCTION`). Its
/// Lambda client (and the AWS settings) are built on the first call; locally
/// `AWS_ENDPOINT_URL_LAMBDA` points it at `cargo lambda watch`, which serves the
/// inference function too, without moving DynamoDB's endpoint.
pub struct RemoteFlanT5 {
    client: LazyClient<aws_sdk_lambda::Client>,
    function: String,
    /// The size the inference function was built with (`FLAN_T5_MODEL`).
    model: String,
}

impl RemoteFlanT5 {
    pub fn new(aws: SharedAws, function: &str, checkpoint: &str) -> Self {
        Self {
            client: LazyClient::new(aws, aws_sdk_lambda::Client::new),
            function: function.to_string(),
            model: model_id(checkpoint),
        }
    }

    /// Whether the Lambda client has been built (by a first call).
    pub fn is_client_built(&self) -> bool {
        self.client.is_built()
    }

    async fn invoke(&self, request: &InferenceRequest) -> Result<Generation, ProviderError> {
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
                ProviderError::Unavailable("The Flan-T5 inference function could not be reached.".into())
            })?;
        if let Some(kind) = output.function_error() {
            tracing::error!(function = %self.function, kind, "the inference function failed");
            return Err(ProviderError::Failed("The Flan-T5 inference function failed.".into()));
        }
        let body = output.payload().map(|p| p.as_ref()).unwrap_or_default();
        match serde_json::from_slice::<InferenceResponse>(body) {
            Ok(InferenceResponse::Generated {
                text,
                prompt_tokens,
                completion_tokens,
            }) => Ok(Generation {
                text,
                usage: Usage {
                    prompt_tokens,
                    completion_tokens,
                },
            }),
            Ok(InferenceResponse::Error { code, message }) => Err(ProviderError::from_code(&code, message)),
            Err(_) => Err(ProviderError::Failed(
                "The Flan-T5 inference function answered something unreadable.".into(),
            )),
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

    async fn is_available(&self) -> bool {
        true
    }

    async fn is_model_available(&self, model: &str) -> bool {
        model == self.model
    }

    async fn unavailable_reason(&self, model: &str) -> Option<String> {
        (model != self.model).then(|| flan_t5::not_loaded(model, &self.model))
    }

    fn input_budget(&self, _model: &str) -> usize {
        // The function measures with the real tokenizer and drops what does not
        // fit; this side only needs a generous first cut.
        flan_t5::INPUT_BUDGET * 2
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        let turns = request.turns.iter().map(WireTurn::from).collect();
        self.invoke(&InferenceRequest::Chat {
            model: request.model,
            turns,
            max_new_tokens: request.max_new_tokens,
        })
        .await
    }

    async fn title(&self, model: &str, first_message: &str) -> Result<String, ProviderError> {
        let request = InferenceRequest::Title {
            model: model.to_string(),
            first_message: first_message.to_string(),
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
        };
        assert!(matches!(
            answer(&provider, request).await,
            InferenceResponse::Error { ref code, .. } if code == "provider_failed"
        ));
        let title = InferenceRequest::Title {
            model: "flan-t5-base".into(),
            first_message: "hi".into(),
        };
        assert!(matches!(
            answer(&provider, title).await,
            InferenceResponse::Error { ref code, .. } if code == "provider_unavailable"
        ));
    }
}
