//! Multi-head attention as T5 defines it: no bias terms and no 1/sqrt(d)
//! scaling of the scores (T5 folds that factor into its initialisation).

use super::linear::{Proj, ProjLoader, Rows};
use super::multi_head;
use candle_core::Module;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// Projections of one attention block (`q`, `k`, `v`, `o`).
#[derive(Debug, Clone)]
pub struct Attention {
    q: Proj,
    k: Proj,
    v: Proj,
    o: Proj,
    num_heads: usize,
    d_kv: usize,
}

/// Widths of an attention block.
#[derive(Debug, Clone, Copy)]
pub struct AttentionDims {
    pub d_model: usize,
    pub num_heads: usize,
    pub d_kv: usize,
}

impl AttentionDims {
    pub fn of(cfg: &crate::config::T5Config) -> Self {
        Self {
            d_model: cfg.d_model,
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        }
    }
}

/// Keys and values already projected and split into heads, each of shape
/// (1, heads, positions, d_kv).
#[derive(Debug, Clone)]
pub struct KeyValue {
    pub keys: Tensor,
    pub values: Tensor,
}

impl KeyValue {
    /// Appends one decoding step; keys grow along the position axis.
    pub fn append(&mut self, step: KeyValue) -> Result<()> {
        self.keys = Tensor::cat(&[&self.keys, &step.keys], 2)?;
        self.values = Tensor::cat(&[&self.values, &step.values], 2)?;
        Ok(())
    }

    /// Number of positions held.
    pub fn positions(&self) -> usize {
        self.keys.dim(2).unwrap_or(0)
    }
}

impl Attention {
    /// `queries` is how many rows attend per call, `memory` how many rows
    /// of keys and values are projected per call.
    pub fn new(dims: AttentionDims, queries: Rows, memory: Rows, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let AttentionDims {
            d_model,
            num_heads,
            d_kv,
        } = dims;
        let inner = num_heads * d_kv;
        Ok(Self {
            q: Proj::new(d_model, inner, queries, loader, vb.pp("q"))?,
            k: Proj::new(d_model, inner, memory, loader, vb.pp("k"))?,
            v: Proj::new(d_model, inner, memory, loader, vb.pp("v"))?,
            o: Proj::new(inner, d_model, queries, loader, vb.pp("o"))?,
            num_heads,
            d_kv,
        })
    }

    /// (1, n, heads*d_kv) -> (1, heads, n, d_kv)
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, _) = x.dims3()?;
        x.reshape((b, n, self.num_heads, self.d_kv))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Projects a memory (the encoder output, or new decoder states) into
    /// per-head keys and values.
    pub fn key_value(&self, memory: &Tensor) -> Result<KeyValue> {
        Ok(KeyValue {
            keys: self.split_heads(&self.k.forward(memory)?)?,
            values: self.split_heads(&self.v.forward(memory)?)?,
        })
    }

    /// Attends `x` (1, queries, d_model) over `kv`; `bias` is added to the raw
    /// scores and carries both the position bias and any mask.
    pub fn attend(&self, x: &Tensor, kv: &KeyValue, bias: Option<&Tensor>) -> Result<Tensor> {
        let q = self.split_heads(&self.q.forward(x)?)?;
        let context = multi_head::attend(&q, &kv.keys, &kv.values, bias)?;
        self.o.forward(&context)
    }
}
