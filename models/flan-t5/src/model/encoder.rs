//! The encoder stack: bidirectional self-attention over the prompt.

use super::attention::{AttentionDims, SelfAttention};
use super::feed_forward::FeedForward;
use super::layer_norm::RmsNorm;
use super::linear::{ProjLoader, Rows};
use super::position::RelativeBias;
use crate::config::T5Config;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
struct EncoderBlock {
    attention_norm: RmsNorm,
    attention: SelfAttention,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

impl EncoderBlock {
    fn new(cfg: &T5Config, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let attn = vb.pp("layer.0");
        let ff = vb.pp("layer.1");
        Ok(Self {
            attention_norm: RmsNorm::new(cfg.d_model, cfg.layer_norm_epsilon, attn.pp("layer_norm"))?,
            attention: SelfAttention::new(AttentionDims::of(cfg), Rows::Many, loader, attn.pp("SelfAttention"))?,
            ff_norm: RmsNorm::new(cfg.d_model, cfg.layer_norm_epsilon, ff.pp("layer_norm"))?,
            ff: FeedForward::new(
                cfg.d_model,
                cfg.d_ff,
                ff_kind(cfg)?,
                Rows::Many,
                loader,
                ff.pp("DenseReluDense"),
            )?,
        })
    }

    fn forward(&self, hidden: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let normed = self.attention_norm.forward(hidden)?;
        let (q, kv) = self.attention.project(&normed)?;
        let hidden = (hidden + self.attention.attend(&q, &kv, Some(bias))?)?;
        let ff = self.ff.forward(&self.ff_norm.forward(&hidden)?)?;
        hidden + ff
    }
}

pub(crate) fn ff_kind(cfg: &T5Config) -> Result<crate::config::FeedForwardKind> {
    cfg.feed_forward().map_err(|e| candle_core::Error::Msg(e.to_string()))
}

#[derive(Debug, Clone)]
pub struct Encoder {
    bias: RelativeBias,
    blocks: Vec<EncoderBlock>,
    final_norm: RmsNorm,
}

impl Encoder {
    pub fn new(cfg: &T5Config, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let blocks = (0..cfg.num_layers)
            .map(|i| EncoderBlock::new(cfg, loader, vb.pp(format!("block.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        // Only block 0 owns a bias table; the others reuse its output.
        let bias = RelativeBias::new(
            cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance,
            cfg.num_heads,
            true,
            vb.pp("block.0.layer.0.SelfAttention"),
        )?;
        Ok(Self {
            bias,
            blocks,
            final_norm: RmsNorm::new(cfg.d_model, cfg.layer_norm_epsilon, vb.pp("final_layer_norm"))?,
        })
    }

    /// `embedded` is (1, n, d_model); returns the normalised encoder states.
    pub fn forward(&self, embedded: &Tensor) -> Result<Tensor> {
        let n = embedded.dim(1)?;
        let bias = self.bias.bias(0, n, n, embedded.device())?;
        let mut hidden = embedded.clone();
        for block in &self.blocks {
            hidden = block.forward(&hidden, &bias)?;
        }
        self.final_norm.forward(&hidden)
    }
}
