//! The in-process engine (feature `engine`): the candle engine of
//! `models/flan-t5`, loaded once per process from `FLAN_T5_DIR` and run on
//! blocking threads (a forward pass is hundreds of milliseconds of CPU). The
//! inference function serves it; the API functions never link it. Without
//! weights the provider is listed as unavailable and answers 503 saying what
//! to set.

use async_trait::async_trait;
use flan_t5::prompt::{self, Turn as T5Turn};
use flan_t5::{Engine, GenerateOptions, LoadOptions};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::FlanT5Quantize;
use super::{model_id, FlanT5Unavailable, INPUT_BUDGET, MODELS, PROVIDER_ID};
use crate::{Chunk, ChunkStream, GenerateRequest, Generation, Provider, ProviderError, Role, Turn, Usage};

/// Flan-T5's own ceiling on a reply: it was tuned for short answers, and every
/// token is a decoder step on the inference function's CPU. A request's bound
/// (`MAX_REPLY_TOKENS`, or a client's `max_tokens` under it) applies below it.
const MAX_NEW_TOKENS: usize = 256;
const TITLE_MAX_NEW_TOKENS: usize = 16;

fn load_options(quantize: FlanT5Quantize) -> LoadOptions {
    LoadOptions {
        quantize: match quantize {
            FlanT5Quantize::F32 => None,
            FlanT5Quantize::Q8_0 => Some(flan_t5::Quantization::Q8_0),
            FlanT5Quantize::Q4K => Some(flan_t5::Quantization::Q4K),
        },
    }
}

/// Loads the engine, or explains (for the 503 body) why there is none.
pub async fn load(dir: Option<&Path>, checkpoint: &str, quantize: FlanT5Quantize) -> Arc<dyn Provider> {
    let Some(dir) = dir else {
        return Arc::new(FlanT5Unavailable::new(
            "Flan-T5 weights are not installed: set FLAN_T5_DIR to a folder with config.json, tokenizer.json and model.safetensors (infra/run-local.sh downloads them when the hub is reachable).",
        ));
    };
    let path = dir.to_path_buf();
    let options = load_options(quantize);
    let loaded = tokio::task::spawn_blocking(move || Engine::load_with(&path, &options)).await;
    match loaded {
        Ok(Ok(engine)) => {
            tracing::info!(model = %model_id(checkpoint), dir = %dir.display(), "Flan-T5 loaded");
            Arc::new(FlanT5::new(Arc::new(engine), model_id(checkpoint)))
        }
        Ok(Err(err)) => {
            tracing::error!(dir = %dir.display(), error = %err, "Flan-T5 weights could not be loaded");
            Arc::new(FlanT5Unavailable::new(format!(
                "Flan-T5 weights in FLAN_T5_DIR could not be loaded ({err}); check that folder."
            )))
        }
        Err(err) => {
            tracing::error!(error = %err, "loading Flan-T5 panicked");
            Arc::new(FlanT5Unavailable::new(
                "Flan-T5 weights could not be loaded; check FLAN_T5_DIR.",
            ))
        }
    }
}

pub struct FlanT5 {
    engine: Arc<Engine>,
    /// The one size this container loaded.
    model: String,
}

impl FlanT5 {
    pub fn new(engine: Arc<Engine>, model: String) -> Self {
        Self { engine, model }
    }

    fn check_model(&self, model: &str) -> Result<(), ProviderError> {
        if model == self.model {
            Ok(())
        } else {
            Err(ProviderError::Unavailable(super::not_loaded(model, &self.model)))
        }
    }

    fn render(&self, turns: &[Turn]) -> Result<String, ProviderError> {
        let turns: Vec<T5Turn> = turns
            .iter()
            .map(|t| match t.role {
                Role::User => T5Turn::user(t.content.clone()),
                Role::Assistant => T5Turn::assistant(t.content.clone()),
            })
            .collect();
        let engine = &self.engine;
        prompt::render_chat(&turns, INPUT_BUDGET, |text| engine.count_tokens(text))
            .map(|rendered| rendered.text)
            .map_err(|err| ProviderError::Failed(format!("The conversation could not be put to Flan-T5: {err}.")))
    }

    fn options(max_new_tokens: Option<u32>) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens: max_new_tokens.map_or(MAX_NEW_TOKENS, |n| (n as usize).min(MAX_NEW_TOKENS)),
            ..GenerateOptions::default()
        }
    }

    async fn run(&self, prompt: String, options: GenerateOptions) -> Result<Generation, ProviderError> {
        let engine = self.engine.clone();
        // Dropping this future (the request's deadline passed, its client left)
        // raises the flag, and decoding ends before its next step: no CPU goes to
        // a reply nobody is charged for.
        let abandoned = RaisedOnDrop::new();
        let stop = abandoned.flag();
        let output = tokio::task::spawn_blocking(move || {
            engine.generate_until(&prompt, &options, || stop.load(Ordering::Relaxed))
        })
        .await
        .map_err(|_| ProviderError::Failed("Flan-T5 stopped unexpectedly.".into()))?
        .map_err(engine_error)?;
        Ok(Generation {
            text: output.text.trim().to_string(),
            usage: Usage {
                prompt_tokens: output.prompt_tokens as u32,
                completion_tokens: output.completion_tokens as u32,
            },
        })
    }
}

fn engine_error(err: flan_t5::Error) -> ProviderError {
    tracing::error!(error = %err, "Flan-T5 generation failed");
    ProviderError::Failed("Flan-T5 could not generate a reply.".into())
}

#[async_trait]
impl Provider for FlanT5 {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn models(&self) -> Vec<String> {
        MODELS.iter().map(|m| m.to_string()).collect()
    }

    async fn is_available(&self) -> bool {
        true
    }

    async fn is_model_available(&self, model: &str) -> bool {
        model == self.model
    }

    async fn unavailable_reason(&self, model: &str) -> Option<String> {
        (model != self.model).then(|| super::not_loaded(model, &self.model))
    }

    fn input_budget(&self, _model: &str) -> usize {
        INPUT_BUDGET
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.engine.count_tokens(text)
    }

    async fn generate(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        self.check_model(&request.model)?;
        let prompt = self.render(&request.turns)?;
        self.run(prompt, Self::options(request.max_new_tokens)).await
    }

    async fn title(&self, model: &str, first_message: &str) -> Result<String, ProviderError> {
        self.check_model(model)?;
        let engine = &self.engine;
        let prompt = prompt::title_prompt(first_message, INPUT_BUDGET, |text| engine.count_tokens(text))
            .map_err(|err| ProviderError::Failed(format!("No title prompt: {err}.")))?;
        let options = GenerateOptions {
            max_new_tokens: TITLE_MAX_NEW_TOKENS,
            ..GenerateOptions::default()
        };
        Ok(prompt::clean_title(&self.run(prompt, options).await?.text))
    }

    async fn stream(&self, request: GenerateRequest) -> Result<ChunkStream, ProviderError> {
        self.check_model(&request.model)?;
        let prompt = self.render(&request.turns)?;
        let options = Self::options(request.max_new_tokens);
        let engine = self.engine.clone();
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Result<Chunk, ProviderError>>();
        tokio::task::spawn_blocking(move || {
            let mut edges = TrimmedPieces::default();
            // A closed channel means nobody reads on (the client left, the deadline
            // passed): decoding stops before its next step.
            let gone = || sender.is_closed();
            let result = engine.generate_stream_until(&prompt, &options, gone, |piece| match edges.push(piece) {
                Some(text) => sender.send(Ok(Chunk::Text(text))).is_ok(),
                None => true,
            });
            let last = match result {
                Ok(output) => Ok(Chunk::Usage(Usage {
                    prompt_tokens: output.prompt_tokens as u32,
                    completion_tokens: output.completion_tokens as u32,
                })),
                Err(err) => Err(engine_error(err)),
            };
            let _ = sender.send(last);
        });
        Ok(Box::pin(futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })))
    }
}

/// A flag raised when this guard is dropped: held by the future that awaits a
/// generation, read by the blocking loop that runs it.
struct RaisedOnDrop(Arc<AtomicBool>);

impl RaisedOnDrop {
    fn new() -> Self {
        Self(Arc::new(AtomicBool::new(false)))
    }

    fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for RaisedOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Passes decoded pieces on so that together they read like the whole reply,
/// which is trimmed: whitespace before the first word is dropped, and
/// whitespace after a word is held back until more text follows it (so the
/// stream never ends in it). A streamed reply is then stored, and shown, as
/// the same text the non-streaming route gives.
#[derive(Debug, Default)]
struct TrimmedPieces {
    started: bool,
    held: String,
}

impl TrimmedPieces {
    /// The text to send for `piece`, if any.
    fn push(&mut self, piece: &str) -> Option<String> {
        let piece = if self.started { piece } else { piece.trim_start() };
        let body = piece.trim_end();
        if body.is_empty() {
            if self.started {
                self.held.push_str(piece);
            }
            return None;
        }
        self.started = true;
        let mut text = std::mem::take(&mut self.held);
        text.push_str(body);
        self.held.push_str(&piece[body.len()..]);
        Some(text)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn streamed_pieces_join_to_the_trimmed_reply() {
        let pieces = [" ", " Hello", " ", "world", " \n", "again", " ", "\n"];
        let mut edges = TrimmedPieces::default();
        let sent: Vec<String> = pieces.iter().filter_map(|p| edges.push(p)).collect();
        assert_eq!(sent.concat(), pieces.concat().trim());
        assert_eq!(sent[0], "Hello", "nothing before the first word");
        let mut blank = TrimmedPieces::default();
        assert!([" ", "\n", ""].iter().all(|p| blank.push(p).is_none()));
    }

    use super::*;

    #[test]
    fn the_shared_budget_is_the_engines() {
        assert_eq!(INPUT_BUDGET, prompt::DEFAULT_ENCODER_BUDGET);
    }

    #[test]
    fn every_quantize_setting_maps_to_the_engines_option() {
        for (setting, name) in [
            (FlanT5Quantize::F32, "f32"),
            (FlanT5Quantize::Q8_0, "q8_0"),
            (FlanT5Quantize::Q4K, "q4k"),
        ] {
            assert_eq!(load_options(setting), LoadOptions::parse(name).unwrap());
        }
    }

    #[tokio::test]
    async fn a_missing_or_broken_folder_gives_an_unavailable_provider() {
        let none = load(None, "google/flan-t5-base", FlanT5Quantize::F32).await;
        assert!(!none.is_available().await);
        let empty = tempfile::tempdir().unwrap();
        let broken = load(Some(empty.path()), "google/flan-t5-base", FlanT5Quantize::F32).await;
        assert!(!broken.is_available().await);
        let err = broken
            .generate(GenerateRequest {
                model: "flan-t5-base".into(),
                turns: vec![Turn::user("hi")],
                max_new_tokens: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), super::super::UNAVAILABLE, "the client's sentence");
    }
}
