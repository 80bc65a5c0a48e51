//! T5 encoder–decoder (`T5ForConditionalGeneration`) on candle.
//!
//! Written here rather than taken from candle-transformers because that
//! version buckets decoder positions bidirectionally and re-projects the
//! encoder output at every step; see `position.rs` and `decoder.rs`.

mod attention;
mod decoder;
mod encoder;
mod fast_exp;
mod feed_forward;
mod gelu;
mod int8;
mod layer_norm;
mod linear;
mod multi_head;
mod pool;
mod position;
mod product;
mod shapes;

pub use decoder::DecoderCache;
pub use linear::{ProjLoader, Quantization};
pub use position::relative_position_bucket;
pub(crate) use product::MAX_DOT_PRODUCT_ROWS;
pub use shapes::parameter_shapes;

use crate::config::T5Config;
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};
use decoder::Decoder;
use encoder::Encoder;
use linear::{Proj, Rows};

#[derive(Debug, Clone)]
enum LmHead {
    /// Original T5 reuses the input embeddings and rescales the states
    /// first, because the shared matrix was trained at embedding scale.
    Tied { weight: Tensor, scale: f64 },
    /// T5 v1.1 / Flan-T5 learn a separate projection.
    Own(Proj),
}

/// The full network with weights, shared read-only between requests.
#[derive(Debug, Clone)]
pub struct T5 {
    config: T5Config,
    shared: Embedding,
    encoder: Encoder,
    decoder: Decoder,
    lm_head: LmHead,
    device: Device,
}

impl T5 {
    /// Builds the network from `vb`, whose tensor names follow the
    /// Hugging Face checkpoints (`shared.weight`, `encoder.block.0…`).
    pub fn new(config: &T5Config, vb: VarBuilder) -> Result<Self> {
        Self::new_with(config, None, vb)
    }

    /// Like [`T5::new`], converting every projection (attention, feed-forward,
    /// untied `lm_head`) to `quantize`. Embeddings, norms and position biases
    /// stay f32: they are small or only indexed, never multiplied.
    pub fn new_with(config: &T5Config, quantize: Option<Quantization>, vb: VarBuilder) -> Result<Self> {
        Self::new_from(config, &ProjLoader::new(quantize), vb)
    }

    /// Like [`T5::new`], with projections built by `loader`.
    pub fn new_from(config: &T5Config, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let shared_weight = vb.get((config.vocab_size, config.d_model), "shared.weight")?;
        let shared = Embedding::new(shared_weight.clone(), config.d_model);
        let encoder = Encoder::new(config, loader, vb.pp("encoder"))?;
        let decoder = Decoder::new(config, loader, vb.pp("decoder"))?;
        let lm_head = if config.tie_word_embeddings {
            LmHead::Tied {
                weight: shared_weight,
                scale: (config.d_model as f64).powf(-0.5),
            }
        } else {
            LmHead::Own(Proj::new(
                config.d_model,
                config.vocab_size,
                Rows::One,
                loader,
                vb.pp("lm_head"),
            )?)
        };
        Ok(Self {
            config: config.clone(),
            shared,
            encoder,
            decoder,
            lm_head,
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &T5Config {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            candle_core::bail!("token id {bad} is outside the vocabulary");
        }
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        self.shared.forward(&ids)
    }

    /// Encoder states (1, n, d_model) for an unpadded prompt.
    pub fn encode(&self, input_ids: &[u32]) -> Result<Tensor> {
        if input_ids.is_empty() {
            candle_core::bail!("cannot encode an empty prompt");
        }
        pool::on_pool(|| self.encoder.forward(&self.embed(input_ids)?))
    }

    /// Fresh per-request decoder state with the cross-attention keys and
    /// values already projected from `encoder_out`.
    pub fn start_decoding(&self, encoder_out: &Tensor) -> Result<DecoderCache> {
        pool::on_pool(|| self.decoder.start(encoder_out))
    }

    /// Feeds one decoder token and returns the next-token logits (vocab,) in f32.
    pub fn decode_step(&self, token: u32, cache: &mut DecoderCache) -> Result<Tensor> {
        self.decode_steps(&[token], &mut [cache])?.flatten_all()
    }

    /// Feeds one decoder token per request, `tokens[i]` to `caches[i]`, as one
    /// batch (each weight read once for all of them), and returns their
    /// next-token logits (n, vocab) in f32; row i is what
    /// [`T5::decode_step`] would give for request i alone.
    pub fn decode_steps(&self, tokens: &[u32], caches: &mut [&mut DecoderCache]) -> Result<Tensor> {
        if tokens.len() != caches.len() || tokens.is_empty() {
            candle_core::bail!("{} tokens for {} decoder caches", tokens.len(), caches.len());
        }
        pool::on_pool(|| self.decode_steps_here(tokens, caches))
    }

    fn decode_steps_here(&self, tokens: &[u32], caches: &mut [&mut DecoderCache]) -> Result<Tensor> {
        let n = tokens.len();
        let hidden = self.decoder.step(&self.embed(tokens)?, caches)?;
        let logits = match &self.lm_head {
            LmHead::Tied { weight, scale } => {
                let hidden = (hidden * *scale)?.reshape((n, self.config.d_model))?;
                product::multiply(&hidden, weight, product::Orientation::OutIn)?
            }
            LmHead::Own(linear) => linear.forward(&hidden)?,
        };
        logits.reshape((n, self.config.vocab_size))?.to_dtype(DType::F32)
    }
}
