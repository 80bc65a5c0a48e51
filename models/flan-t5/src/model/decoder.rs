//! The decoder stack, run one token at a time against cached state.

use super::attention::{context, AttentionDims, CrossAttention, KeyValue, SelfAttention};
use super::encoder::ff_kind;
use super::feed_forward::FeedForward;
use super::layer_norm::RmsNorm;
use super::linear::{ProjLoader, Rows};
use super::position::RelativeBias;
use crate::config::T5Config;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
struct DecoderBlock {
    self_norm: RmsNorm,
    self_attention: SelfAttention,
    cross_norm: RmsNorm,
    cross_attention: CrossAttention,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

impl DecoderBlock {
    fn new(cfg: &T5Config, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let (own, cross, ff) = (vb.pp("layer.0"), vb.pp("layer.1"), vb.pp("layer.2"));
        let eps = cfg.layer_norm_epsilon;
        Ok(Self {
            self_norm: RmsNorm::new(cfg.d_model, eps, own.pp("layer_norm"))?,
            self_attention: SelfAttention::new(AttentionDims::of(cfg), Rows::One, loader, own.pp("SelfAttention"))?,
            cross_norm: RmsNorm::new(cfg.d_model, eps, cross.pp("layer_norm"))?,
            cross_attention: CrossAttention::new(AttentionDims::of(cfg), loader, cross.pp("EncDecAttention"))?,
            ff_norm: RmsNorm::new(cfg.d_model, eps, ff.pp("layer_norm"))?,
            ff: FeedForward::new(
                cfg.d_model,
                cfg.d_ff,
                ff_kind(cfg)?,
                Rows::One,
                loader,
                ff.pp("DenseReluDense"),
            )?,
        })
    }
}

/// Per-layer state of one decoding run.
#[derive(Debug, Clone)]
struct LayerCache {
    /// Projected encoder output: fixed for the whole request, so computed once.
    cross: KeyValue,
    /// Keys and values of every decoder position so far.
    own: Option<KeyValue>,
}

/// Everything one request accumulates while decoding. A new one is built
/// for each request, which is what keeps requests from seeing each other's
/// positions and lets a shared model serve concurrent callers.
#[derive(Debug, Clone)]
pub struct DecoderCache {
    layers: Vec<LayerCache>,
    position: usize,
}

impl DecoderCache {
    /// Number of decoder tokens already consumed.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Length of the encoder memory the cross-attention caches were built from.
    pub fn memory_len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.cross.positions())
    }
}

#[derive(Debug, Clone)]
pub struct Decoder {
    bias: RelativeBias,
    blocks: Vec<DecoderBlock>,
    final_norm: RmsNorm,
}

impl Decoder {
    pub fn new(cfg: &T5Config, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let blocks = (0..cfg.decoder_layers())
            .map(|i| DecoderBlock::new(cfg, loader, vb.pp(format!("block.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let bias = RelativeBias::new(
            cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance,
            cfg.num_heads,
            false,
            vb.pp("block.0.layer.0.SelfAttention"),
        )?;
        Ok(Self {
            bias,
            blocks,
            final_norm: RmsNorm::new(cfg.d_model, cfg.layer_norm_epsilon, vb.pp("final_layer_norm"))?,
        })
    }

    /// Projects the encoder output once for every layer's cross-attention.
    pub fn start(&self, encoder_out: &Tensor) -> Result<DecoderCache> {
        let layers = self
            .blocks
            .iter()
            .map(|b| {
                Ok(LayerCache {
                    cross: b.cross_attention.key_value(encoder_out)?,
                    own: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache { layers, position: 0 })
    }

    /// Runs one embedded token per request, `embedded` (1, n, d_model) with
    /// row i for `caches[i]`, through the stack and returns the normalised
    /// hidden states (1, n, d_model).
    ///
    /// The projections take all n rows at once, so each weight is read once
    /// for the whole batch; attention runs per request, over its own cached
    /// positions with its own position bias. A request's row comes out as it
    /// would alone: every output of the one-row-at-a-time products is its own
    /// dot product (`product.rs`).
    pub fn step(&self, embedded: &Tensor, caches: &mut [&mut DecoderCache]) -> Result<Tensor> {
        if embedded.dim(1)? != caches.len() {
            candle_core::bail!("{} decoder rows for {} caches", embedded.dim(1)?, caches.len());
        }
        // A single query attends to every cached key, all of which are in its
        // past, so no causal mask is needed beyond the unidirectional bias.
        let biases = caches
            .iter()
            .map(|c| self.bias.bias(c.position, 1, c.position + 1, embedded.device()))
            .collect::<Result<Vec<_>>>()?;
        let mut hidden = embedded.clone();
        for (l, block) in self.blocks.iter().enumerate() {
            let normed = block.self_norm.forward(&hidden)?;
            let (q, fresh) = block.self_attention.project(&normed)?;
            let mut contexts = Vec::with_capacity(caches.len());
            for (i, cache) in caches.iter_mut().enumerate() {
                let layer = &mut cache.layers[l];
                let own = match layer.own.take() {
                    Some(mut kv) => {
                        kv.append(fresh.row(i)?)?;
                        kv
                    }
                    None => fresh.row(i)?,
                };
                contexts.push(context(&q.row(i)?, &own, Some(&biases[i]))?);
                layer.own = Some(own);
            }
            hidden = (hidden + block.self_attention.output(&Tensor::cat(&contexts, 1)?)?)?;

            let q = block.cross_attention.queries(&block.cross_norm.forward(&hidden)?)?;
            let contexts = caches
                .iter()
                .enumerate()
                .map(|(i, cache)| context(&q.row(i)?, &cache.layers[l].cross, None))
                .collect::<Result<Vec<_>>>()?;
            hidden = (&hidden + block.cross_attention.output(&Tensor::cat(&contexts, 1)?)?)?;

            let ff = block.ff.forward(&block.ff_norm.forward(&hidden)?)?;
            hidden = (hidden + ff)?;
        }
        for cache in caches.iter_mut() {
            cache.position += 1;
        }
        self.final_norm.forward(&hidden)
    }
}
