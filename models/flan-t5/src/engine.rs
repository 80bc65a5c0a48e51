//! The request-facing entry point: load once, generate many times.

use crate::batch::Batcher;
use crate::config::T5Config;
use crate::error::{Error, Result};
use crate::model::{ProjLoader, Quantization, T5};
use crate::sampling::Sampler;
use crate::stream::TextStream;
use crate::weights::SafetensorsReader;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::path::Path;
use tokenizers::Tokenizer;

const CONFIG_FILE: &str = "config.json";
const TOKENIZER_FILE: &str = "tokenizer.json";
const WEIGHTS_FILE: &str = "model.safetensors";

/// How to generate one reply.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Upper bound on decoding steps, the end-of-sequence step included.
    pub max_new_tokens: usize,
    /// End-of-sequence is forbidden until this many tokens exist; setting it
    /// to `max_new_tokens` forces full-length output (used by golden tests).
    pub min_new_tokens: usize,
    /// 0 means greedy decoding; higher values flatten the distribution.
    pub temperature: f64,
    /// Nucleus sampling mass in (0, 1]; 1 keeps every token.
    pub top_p: f64,
    /// 1 is off; above 1 discourages tokens already generated.
    pub repeat_penalty: f32,
    /// Seed of the sampler, so a reply can be reproduced.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            min_new_tokens: 0,
            temperature: 0.0,
            top_p: 1.0,
            repeat_penalty: 1.0,
            seed: 0,
        }
    }
}

impl GenerateOptions {
    fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::Request("temperature must be a finite number >= 0".into()));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Request("top_p must be in (0, 1]".into()));
        }
        if !self.repeat_penalty.is_finite() || self.repeat_penalty <= 0.0 {
            return Err(Error::Request("repeat_penalty must be a finite number > 0".into()));
        }
        Ok(())
    }
}

/// How to load a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `None` (the default) computes in f32 and matches transformers within
    /// 1e-4 (tests/golden.rs). `Some(..)` quantizes every projection while
    /// loading: about 2× faster decoding with a quarter of the weight memory,
    /// at the price of small logit differences (BENCHMARKS.md has figures).
    /// A `model.<q8_0|q4k>.gguf` written by [`Engine::write_quantized`] at
    /// least as recently as `model.safetensors` is used instead of
    /// converting during the load.
    pub quantize: Option<Quantization>,
}

/// Environment variable read by [`LoadOptions::from_env`].
pub const QUANTIZE_ENV: &str = "FLAN_T5_QUANTIZE";

impl LoadOptions {
    /// Reads `FLAN_T5_QUANTIZE`: unset, empty or `f32` for exact f32, `q8_0`
    /// or `q4k` to quantize. Kept out of [`Engine::load`] so a library user
    /// is never switched to approximate numbers by an environment variable
    /// they did not know about; the serving binary opts in by calling this.
    pub fn from_env() -> Result<Self> {
        match std::env::var(QUANTIZE_ENV) {
            Ok(value) => Self::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(Self::default()),
            Err(e) => Err(Error::Config(format!("{QUANTIZE_ENV}: {e}"))),
        }
    }

    /// Parses the values [`LoadOptions::from_env`] accepts.
    pub fn parse(value: &str) -> Result<Self> {
        let quantize = match value.trim().to_ascii_lowercase().as_str() {
            "" | "f32" | "none" => None,
            "q8_0" | "q8" => Some(Quantization::Q8_0),
            "q4k" | "q4_k" => Some(Quantization::Q4K),
            other => {
                return Err(Error::Config(format!(
                    "{QUANTIZE_ENV}={other:?}: expected f32, q8_0 or q4k"
                )))
            }
        };
        Ok(Self { quantize })
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced end-of-sequence.
    Stop,
    /// `max_new_tokens` was reached first.
    Length,
    /// The caller stopped it: the streaming callback or the `stop` check of a
    /// `*_until` form (the client went away, the deadline passed).
    Cancelled,
}

/// A finished reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub text: String,
    /// Encoder tokens, the appended `</s>` included.
    pub prompt_tokens: usize,
    /// Reply tokens; the end-of-sequence token is not counted.
    pub completion_tokens: usize,
    pub finish_reason: FinishReason,
}

/// Token ids together with the raw logits of every step, for checking the
/// model against a reference implementation.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Generated ids, end-of-sequence excluded.
    pub tokens: Vec<u32>,
    /// Model logits before any sampling adjustment, one row per step
    /// (the step that produced end-of-sequence included).
    pub logits: Vec<Vec<f32>>,
    pub finish_reason: FinishReason,
}

/// A loaded Flan-T5 model and tokenizer.
///
/// Holds no per-request state (each request builds its own decoder cache),
/// so one `Engine` can be shared behind an `Arc` by concurrent requests;
/// their decoding steps then run in batches (`batch.rs`).
pub struct Engine {
    model: T5,
    tokenizer: Tokenizer,
    steps: Batcher,
}

fn require(dir: &Path, file: &'static str) -> Result<std::path::PathBuf> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingFile {
            dir: dir.to_path_buf(),
            file,
        })
    }
}

impl Engine {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from
    /// `dir` for exact f32 computation, whatever dtype the weights are
    /// stored in.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, &LoadOptions::default())
    }

    /// Like [`Engine::load`], with the choices of `options`.
    pub fn load_with(dir: &Path, options: &LoadOptions) -> Result<Self> {
        let config_path = require(dir, CONFIG_FILE)?;
        let tokenizer_path = require(dir, TOKENIZER_FILE)?;
        let weights_path = require(dir, WEIGHTS_FILE)?;
        let config = T5Config::from_file(&config_path)?;
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let tokenizer_vocab = tokenizer.get_vocab_size(true);
        if tokenizer_vocab > config.vocab_size {
            return Err(Error::Config(format!(
                "tokenizer has {tokenizer_vocab} tokens but the model only {}",
                config.vocab_size
            )));
        }
        let loader = match options.quantize {
            Some(q) => match fresh_prequantized(dir, &weights_path, q) {
                Some(path) => ProjLoader::with_prequantized(q, &path)?,
                None => ProjLoader::new(Some(q)),
            },
            None => ProjLoader::new(None),
        };
        let reader = SafetensorsReader::open(&weights_path)?;
        let vb = VarBuilder::from_backend(Box::new(reader), DType::F32, Device::Cpu);
        let model = T5::new_from(&config, &loader, vb)?;
        Ok(Self {
            model,
            tokenizer,
            steps: Batcher::default(),
        })
    }

    pub fn config(&self) -> &T5Config {
        self.model.config()
    }

    /// Converts the projections of the model in `dir` to `quantize` once and
    /// writes them to `model.<q8_0|q4k>.gguf` next to `model.safetensors`
    /// (a build or deploy step). [`Engine::load_with`] then reads them as
    /// they are instead of converting on every cold start. Returns the path.
    pub fn write_quantized(dir: &Path, quantize: Quantization) -> Result<std::path::PathBuf> {
        let config = T5Config::from_file(&require(dir, CONFIG_FILE)?)?;
        let reader = SafetensorsReader::open(&require(dir, WEIGHTS_FILE)?)?;
        let vb = VarBuilder::from_backend(Box::new(reader), DType::F32, Device::Cpu);
        let loader = ProjLoader::recording(quantize);
        T5::new_from(&config, &loader, vb)?;
        let path = prequantized_path(dir, quantize);
        // Written under another name and renamed, so a reader never sees half a file.
        let partial = path.with_extension("gguf.partial");
        loader.write_gguf(&partial)?;
        std::fs::rename(&partial, &path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    pub fn model(&self) -> &T5 {
        &self.model
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Encoder input ids for `text`, with the `</s>` the tokenizer appends.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Tokens `text` takes as encoder input (what prompt budgets measure).
    ///
    /// Should the tokenizer fail, the byte length is returned instead: it
    /// over-counts, so a budget check stays on the safe side.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.encode(text).map_or(text.len() + 1, |ids| ids.len())
    }

    /// Text of generated ids, special tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Generates a reply to `prompt`.
    pub fn generate(&self, prompt: &str, opts: &GenerateOptions) -> Result<Output> {
        self.generate_until(prompt, opts, || false)
    }

    /// Like [`Engine::generate`], asking `stop` before every decoding step: once it
    /// answers true, generation ends there with `FinishReason::Cancelled`, so no
    /// more than one step is spent on a reply nobody waits for.
    pub fn generate_until(&self, prompt: &str, opts: &GenerateOptions, stop: impl Fn() -> bool) -> Result<Output> {
        let input = self.encode(prompt)?;
        let (ids, finish_reason) = self.run_until(&input, opts, &stop, |_, _| Ok(true))?;
        Ok(Output {
            text: self.decode(&ids)?,
            prompt_tokens: input.len(),
            completion_tokens: ids.len(),
            finish_reason,
        })
    }

    /// Generates from already tokenised input; returns the reply ids.
    pub fn generate_ids(&self, input_ids: &[u32], opts: &GenerateOptions) -> Result<Vec<u32>> {
        Ok(self.run(input_ids, opts, |_, _| Ok(true))?.0)
    }

    /// Like [`Engine::generate_ids`], also returning each step's logits.
    pub fn generate_with_logits(&self, input_ids: &[u32], opts: &GenerateOptions) -> Result<Trace> {
        let mut logits = Vec::new();
        let (tokens, finish_reason) = self.run(input_ids, opts, |_, step_logits| {
            logits.push(step_logits.to_vec());
            Ok(true)
        })?;
        Ok(Trace {
            tokens,
            logits,
            finish_reason,
        })
    }

    /// Generates a reply, handing text to `on_piece` as soon as it is final.
    /// The pieces concatenate to the returned `Output::text`. Returning
    /// `false` from `on_piece` stops generation with `FinishReason::Cancelled`.
    pub fn generate_stream(
        &self,
        prompt: &str,
        opts: &GenerateOptions,
        on_piece: impl FnMut(&str) -> bool,
    ) -> Result<Output> {
        self.generate_stream_until(prompt, opts, || false, on_piece)
    }

    /// Like [`Engine::generate_stream`], also asking `stop` before every step (a
    /// piece is not final at every step, so the callback alone can stop late).
    pub fn generate_stream_until(
        &self,
        prompt: &str,
        opts: &GenerateOptions,
        stop: impl Fn() -> bool,
        mut on_piece: impl FnMut(&str) -> bool,
    ) -> Result<Output> {
        let input = self.encode(prompt)?;
        let eos = self.config().eos_token_id;
        let mut stream = TextStream::new(&self.tokenizer);
        let (ids, finish_reason) = self.run_until(&input, opts, &stop, |token, _| {
            if token == eos {
                return Ok(true);
            }
            Ok(match stream.push(token)? {
                Some(piece) => on_piece(&piece),
                None => true,
            })
        })?;
        if finish_reason != FinishReason::Cancelled {
            if let Some(rest) = stream.finish()? {
                on_piece(&rest);
            }
        }
        Ok(Output {
            text: self.decode(&ids)?,
            prompt_tokens: input.len(),
            completion_tokens: ids.len(),
            finish_reason,
        })
    }

    fn run(
        &self,
        input_ids: &[u32],
        opts: &GenerateOptions,
        on_step: impl FnMut(u32, &[f32]) -> Result<bool>,
    ) -> Result<(Vec<u32>, FinishReason)> {
        self.run_until(input_ids, opts, &|| false, on_step)
    }

    /// The decoding loop shared by every public form. `stop` is asked before each
    /// step; `on_step` sees each chosen token with the raw logits it came from and
    /// may stop the loop.
    fn run_until(
        &self,
        input_ids: &[u32],
        opts: &GenerateOptions,
        stop: &dyn Fn() -> bool,
        mut on_step: impl FnMut(u32, &[f32]) -> Result<bool>,
    ) -> Result<(Vec<u32>, FinishReason)> {
        opts.validate()?;
        if input_ids.is_empty() {
            return Err(Error::Request("the prompt has no tokens".into()));
        }
        let mut generated = Vec::new();
        if opts.max_new_tokens == 0 {
            return Ok((generated, FinishReason::Length));
        }
        let eos = self.config().eos_token_id;
        let encoded = self.model.encode(input_ids)?;
        // A fresh cache per request: nothing from an earlier reply can leak in.
        let mut cache = self.model.start_decoding(&encoded)?;
        let mut sampler = Sampler::new(opts.temperature, opts.top_p, opts.repeat_penalty, opts.seed);
        let mut token = self.config().decoder_start_id();
        // From here on this request's steps are batched with other requests'.
        let session = self.steps.session();
        for _ in 0..opts.max_new_tokens {
            if stop() {
                return Ok((generated, FinishReason::Cancelled));
            }
            let logits;
            (logits, cache) = session.step(&self.model, token, cache)?;
            let banned = (generated.len() < opts.min_new_tokens).then_some(eos);
            token = sampler.pick(&logits, &generated, banned);
            if token == eos {
                on_step(token, &logits)?;
                return Ok((generated, FinishReason::Stop));
            }
            generated.push(token);
            if !on_step(token, &logits)? {
                return Ok((generated, FinishReason::Cancelled));
            }
        }
        Ok((generated, FinishReason::Length))
    }
}

fn prequantized_path(dir: &Path, quantize: Quantization) -> std::path::PathBuf {
    dir.join(format!("model.{}.gguf", quantize.name()))
}

/// The build-time quantized file for `quantize`, if there is one at least as
/// new as the weights it was made from (a stale one is ignored, not trusted).
fn fresh_prequantized(dir: &Path, weights: &Path, quantize: Quantization) -> Option<std::path::PathBuf> {
    let path = prequantized_path(dir, quantize);
    let made = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    let source = std::fs::metadata(weights).and_then(|m| m.modified()).ok()?;
    (made >= source).then_some(path)
}
