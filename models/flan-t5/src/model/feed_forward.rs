//! The position-wise feed-forward block (`DenseReluDense` in checkpoints).

use super::gelu;
use super::linear::{Proj, ProjLoader, Rows};
use crate::config::{Activation, FeedForwardKind};
use candle_core::Module;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
enum Input {
    /// Original T5: `wo(act(wi(x)))`.
    Plain(Proj),
    /// T5 v1.1 / Flan-T5: `wo(act(wi_0(x)) * wi_1(x))`.
    Gated { gate: Proj, linear: Proj },
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
            Input::Gated {
                gate: Proj::new(d_model, d_ff, rows, loader, vb.pp("wi_0"))?,
                linear: Proj::new(d_model, d_ff, rows, loader, vb.pp("wi_1"))?,
            }
        } else {
            Input::Plain(Proj::new(d_model, d_ff, rows, loader, vb.pp("wi"))?)
        };
        Ok(Self {
            input,
            wo: Proj::new(d_ff, d_model, rows, loader, vb.pp("wo"))?,
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
            Input::Gated { gate, linear } if self.activation == Activation::GeluTanh => {
                gelu::gated_gelu(&gate.forward(x)?, &linear.forward(x)?)?
            }
            Input::Gated { gate, linear } => (self.activate(&gate.forward(x)?)? * linear.forward(x)?)?,
        };
        self.wo.forward(&hidden)
    }
}
