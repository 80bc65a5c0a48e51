//! Multi-head attention as T5 defines it: no bias terms and no 1/sqrt(d)
//! scaling of the scores (T5 folds that factor into its initialisation).

use super::linear::{Joined, Proj, ProjLoader, Rows};
use super::multi_head;
use candle_core::Module;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

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

    fn inner(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// Splits `joined` (1, n, parts·heads·d_kv), the outputs of `parts`
    /// projections side by side, into `parts` tensors (1, heads, n, d_kv).
    fn split_heads(&self, joined: &Tensor, parts: usize) -> Result<Vec<Tensor>> {
        let (b, n, _) = joined.dims3()?;
        let joined = joined.reshape((b, n, parts, self.num_heads, self.d_kv))?;
        (0..parts)
            .map(|p| joined.narrow(2, p, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous())
            .collect()
    }
}

/// Context vectors (1, n, heads·d_kv) of `q` attending over `kv`, before the
/// output projection; `bias` is added to the raw scores. A batched decoding
/// step calls it per request (each has its own keys and positions), then
/// projects all the contexts at once (`output`).
pub fn context(q: &Queries, kv: &KeyValue, bias: Option<&Tensor>) -> Result<Tensor> {
    multi_head::attend(&q.0, &kv.keys, &kv.values, bias)
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

    /// The keys and values of position `i` alone.
    pub fn row(&self, i: usize) -> Result<KeyValue> {
        Ok(KeyValue {
            keys: self.keys.narrow(2, i, 1)?,
            values: self.values.narrow(2, i, 1)?,
        })
    }
}

/// Queries (1, heads, n, d_kv) ready to attend.
#[derive(Debug, Clone)]
pub struct Queries(Tensor);

impl Queries {
    /// The queries of row `i` alone (a batched step: one request's).
    pub fn row(&self, i: usize) -> Result<Queries> {
        Ok(Queries(self.0.narrow(2, i, 1)?))
    }
}

/// Attention of a sequence over itself: its queries, keys and values come
/// from the same input, so they are one joined product.
#[derive(Debug, Clone)]
pub struct SelfAttention {
    qkv: Joined,
    o: Proj,
    dims: AttentionDims,
}

impl SelfAttention {
    /// `rows` is how many rows are projected per call.
    pub fn new(dims: AttentionDims, rows: Rows, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let inner = dims.inner();
        let parts = [(inner, vb.pp("q")), (inner, vb.pp("k")), (inner, vb.pp("v"))];
        Ok(Self {
            qkv: Joined::new(dims.d_model, &parts, rows, loader)?,
            o: Proj::new(inner, dims.d_model, rows, loader, vb.pp("o"))?,
            dims,
        })
    }

    /// Projects `x` (1, n, d_model) into queries and into keys and values.
    pub fn project(&self, x: &Tensor) -> Result<(Queries, KeyValue)> {
        let mut parts = self.dims.split_heads(&self.qkv.forward(x)?, 3)?.into_iter();
        let mut next = || parts.next().expect("three parts");
        let (q, keys, values) = (next(), next(), next());
        Ok((Queries(q), KeyValue { keys, values }))
    }

    /// `q` attending over `kv`; `bias` is added to the raw scores and carries
    /// both the position bias and any mask.
    pub fn attend(&self, q: &Queries, kv: &KeyValue, bias: Option<&Tensor>) -> Result<Tensor> {
        self.output(&context(q, kv, bias)?)
    }

    /// The output projection of contexts (1, n, heads·d_kv), all rows at once.
    pub fn output(&self, contexts: &Tensor) -> Result<Tensor> {
        self.o.forward(contexts)
    }
}

/// The decoder's attention over the encoder output: keys and values are
/// projected once per request (all rows at a time), queries once per step.
#[derive(Debug, Clone)]
pub struct CrossAttention {
    q: Proj,
    kv: Joined,
    o: Proj,
    dims: AttentionDims,
}

impl CrossAttention {
    pub fn new(dims: AttentionDims, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        let inner = dims.inner();
        let memory = [(inner, vb.pp("k")), (inner, vb.pp("v"))];
        Ok(Self {
            q: Proj::new(dims.d_model, inner, Rows::One, loader, vb.pp("q"))?,
            kv: Joined::new(dims.d_model, &memory, Rows::Many, loader)?,
            o: Proj::new(inner, dims.d_model, Rows::One, loader, vb.pp("o"))?,
            dims,
        })
    }

    /// Projects the encoder output (1, m, d_model) into keys and values.
    pub fn key_value(&self, memory: &Tensor) -> Result<KeyValue> {
        let mut parts = self.dims.split_heads(&self.kv.forward(memory)?, 2)?.into_iter();
        let mut next = || parts.next().expect("two parts");
        let (keys, values) = (next(), next());
        Ok(KeyValue { keys, values })
    }

    /// Queries of `x` (1, n, d_model), all rows at once.
    pub fn queries(&self, x: &Tensor) -> Result<Queries> {
        Ok(Queries(self.dims.split_heads(&self.q.forward(x)?, 1)?.remove(0)))
    }

    /// The output projection of contexts (1, n, heads·d_kv), all rows at once.
    pub fn output(&self, contexts: &Tensor) -> Result<Tensor> {
        self.o.forward(contexts)
    }
}
