//! T5's layer norm: scale-only RMS normalisation.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::VarBuilder;

/// T5 normalises by the root mean square only (no mean subtraction, no
/// bias), so candle-nn's LayerNorm would give different numbers.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(d_model: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(d_model, "weight")?,
            eps,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Statistics in f32 whatever the activation dtype, as transformers does.
        let dtype = x.dtype();
        let x32 = x.to_dtype(DType::F32)?;
        let mean_square = x32.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = x32.broadcast_div(&(mean_square + self.eps)?.sqrt()?)?;
        normed.to_dtype(dtype)?.broadcast_mul(&self.weight)
    }
}
