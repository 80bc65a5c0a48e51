//! The position-wise feed-forward block (`DenseReluDense` in checkpoints).

use super::gelu;
use super::linear::{Joined, Proj, ProjLoader, Rows};
use crate::config::{Activation, FeedForwardKind};
use candle_core::Module;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
enum Input {
    /// Original T5: `wo(act(wi(x)))`.
    Plain(Proj),
    /// T5 v1.1 / Flan-T5: `wo(act(wi_0(x)) * wi_1(x))`, with `wi_0` and
    /// `wi_1` joined into one product.
    Gated(Joined),
}

#[derive(Debug, Clone)]
pub struct FeedForward {
    input: Input,
    wo: Proj,
    activation: Activation,
}

impl FeedForward {
    pub fn new(
        d_model: usize,
        d_ff: usize,
        kind: FeedForwardKind,
        rows: Rows,
        loader: &ProjLoader,
        vb: VarBuilder,
    ) -> Result<Self> {
        let input = if kind.gated {
            Input::Gated(Joined::new(
                d_model,
                &[(d_ff, vb.pp("wi_0")), (d_ff, vb.pp("wi_1"))],
                rows,
                loader,
            )?)
        } else {
            Input::Plain(Proj::new(d_model, d_ff, rows, loader, vb.pp("wi"))?)
        };
        Ok(Self {
            input,
            wo: Proj::new_block_scaled(d_ff, d_model, rows, loader, vb.pp("wo"))?,
            activation: kind.activation,
        })
    }

    fn activate(&self, x: &Tensor) -> Result<Tensor> {
        match self.activation {
            Activation::Relu => x.relu(),
            Activation::GeluErf => x.gelu_erf(),
            // candle's `gelu` is the tanh approximation, i.e. gelu_new.
            Activation::GeluTanh => x.gelu(),
            Activation::Silu => x.silu(),
        }
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = match &self.input {
            Input::Plain(wi) => self.activate(&wi.forward(x)?)?,
            // Flan-T5's case, fused into one parallel pass.
            Input::Gated(wi) if self.activation == Activation::GeluTanh => gelu::gated_gelu(&wi.forward(x)?)?,
            Input::Gated(wi) => {
                let joined = wi.forward(x)?;
                let d_ff = joined.dim(candle_core::D::Minus1)? / 2;
                let gate = joined.narrow(candle_core::D::Minus1, 0, d_ff)?;
                (self.activate(&gate)? * joined.narrow(candle_core::D::Minus1, d_ff, d_ff)?)?
            }
        };
        self.wo.forward(&hidden)
    }
}
