//! The Flan-T5 inference function: loads the weights baked into its image
//! (`FLAN_T5_DIR`) once per container, then answers `InferenceRequest`s.
//! A request it cannot parse gets an `error` answer, never a crash.

use chatbot_llm::flan_t5::{self, Settings};
use chatbot_llm::inference::{answer, invocation_deadline, InferenceRequest, InferenceResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chatbot_runtime::logs::init();
    let settings = Settings::from_env()?;
    let provider = flan_t5::load(settings.dir.as_deref(), &settings.checkpoint, settings.quantize).await;
    // Sequential unless Lambda allows several invocations per environment
    // (AWS_LAMBDA_MAX_CONCURRENCY > 1, as on Managed Instances): then they run
    // side by side on the one engine, whose decoding steps are batched.
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Value>| {
        let provider = provider.clone();
        async move {
            let deadline = invocation_deadline(event.context.deadline);
            let response = match serde_json::from_value::<InferenceRequest>(event.payload) {
                Ok(request) => answer(provider.as_ref(), request, deadline).await,
                Err(err) => InferenceResponse::Error {
                    code: "provider_failed".into(),
                    message: format!("Not an inference request: {err}."),
                },
            };
            Ok::<_, Error>(response)
        }
    }))
    .await
}
