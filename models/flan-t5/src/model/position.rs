//! Relative position buckets and the learned bias they index.
//!
//! T5 has no absolute position embeddings: the first attention layer of each
//! stack adds a learned per-head bias chosen by the bucket of (key position −
//! query position), and later layers reuse that bias. The encoder buckets
//! both directions; the decoder can only look back, so its buckets are
//! unidirectional and use all of them for the past. Getting that direction
//! wrong is invisible for the first few tokens and then shifts the logits.

use candle_core::{Device, Result, Tensor};
use candle_nn::{Embedding, Module, VarBuilder};

/// Bucket of one relative position (`key − query`).
///
/// The log-spaced branch is computed in f32 in the same order as
/// `transformers` does, because positions on a bucket boundary (e.g. 16, 32,
/// 64) are only assigned identically when the rounding is identical.
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let distance = if bidirectional {
        num_buckets /= 2;
        if relative_position > 0 {
            bucket += num_buckets;
        }
        relative_position.abs()
    } else {
        // Future positions collapse onto distance 0; a causal decoder never
        // sees them anyway.
        -relative_position.min(0)
    };
    let max_exact = num_buckets / 2;
    let offset = if distance < max_exact {
        distance
    } else {
        let scale = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
        let log_ratio = (distance as f32 / max_exact as f32).ln() / scale;
        let large = max_exact + (log_ratio * (num_buckets - max_exact) as f32) as i64;
        large.min(num_buckets - 1)
    };
    (bucket + offset) as u32
}

/// The learned bias table of a stack's first layer.
#[derive(Debug, Clone)]
pub struct RelativeBias {
    table: Embedding,
    num_heads: usize,
    num_buckets: usize,
    max_distance: usize,
    bidirectional: bool,
}

impl RelativeBias {
    pub fn new(
        num_buckets: usize,
        max_distance: usize,
        num_heads: usize,
        bidirectional: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get((num_buckets, num_heads), "relative_attention_bias.weight")?;
        Ok(Self {
            table: Embedding::new(weight, num_heads),
            num_heads,
            num_buckets,
            max_distance,
            bidirectional,
        })
    }

    /// Bias of shape (1, heads, queries, keys) for queries at absolute
    /// positions `query_start..query_start + queries` against keys `0..keys`.
    pub fn bias(&self, query_start: usize, queries: usize, keys: usize, device: &Device) -> Result<Tensor> {
        let mut buckets = Vec::with_capacity(queries * keys);
        for q in query_start..query_start + queries {
            for k in 0..keys {
                buckets.push(relative_position_bucket(
                    k as i64 - q as i64,
                    self.bidirectional,
                    self.num_buckets,
                    self.max_distance,
                ));
            }
        }
        let ids = Tensor::from_vec(buckets, queries * keys, device)?;
        self.table
            .forward(&ids)?
            .reshape((queries, keys, self.num_heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }
}
