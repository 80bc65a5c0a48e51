//! The gated feed-forward's `gelu_new(gate) * linear` in one parallel pass.
//!
//! candle computes `gelu` one element at a time on one thread with libm's
//! `tanhf`, then multiplies in a second pass. Here both happen in one pass
//! over chunks spread on the rayon pool, with an exponential the compiler
//! vectorises (`fast_exp`): the flan-t5-base encoder pass went from ~235 to
//! ~142 ms (BENCHMARKS.md, change 8).
//!
//! `0.5·x·(1 + tanh(u))` is `x · σ(2u)`, so one exponential and one division
//! give transformers' `gelu_new` exactly up to rounding (≈ 1e-7 relative).

use super::fast_exp::{exp, vectorised};
use super::product::{is_cpu_f32, with_slice};
use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

/// √(2/π), the tanh approximation's scale.
const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
/// Outputs per task: a few microseconds of work each.
const CHUNK: usize = 8 * 1024;

/// `gelu_new(gate) * linear` where each row of `joined` (…, 2·d_ff) holds
/// the gate's d_ff values followed by the linear part's, as the joined
/// input projection computes them; returns (…, d_ff).
pub fn gated_gelu(joined: &Tensor) -> Result<Tensor> {
    let mut dims = joined.dims().to_vec();
    let Some(width) = dims.last_mut() else {
        candle_core::bail!("gated_gelu needs at least one dimension");
    };
    if *width % 2 != 0 {
        candle_core::bail!("gated_gelu needs an even last dimension, got {}", *width);
    }
    let d_ff = *width / 2;
    *width = d_ff;
    if !is_cpu_f32(joined) {
        let gate = joined.narrow(candle_core::D::Minus1, 0, d_ff)?;
        let linear = joined.narrow(candle_core::D::Minus1, d_ff, d_ff)?;
        return gate.gelu()? * linear;
    }
    let joined = joined.contiguous()?;
    let mut out = vec![0f32; joined.elem_count() / 2];
    if d_ff > 0 {
        with_slice(&joined, |rows| {
            // Whole rows per task, about CHUNK outputs each.
            let rows_per_task = (CHUNK / d_ff).max(1);
            out.par_chunks_mut(rows_per_task * d_ff)
                .zip(rows.par_chunks(rows_per_task * 2 * d_ff))
                .for_each(|(out, rows)| {
                    for (out, row) in out.chunks_exact_mut(d_ff).zip(rows.chunks_exact(2 * d_ff)) {
                        let (gate, linear) = row.split_at(d_ff);
                        gated_gelu_row(out, gate, linear);
                    }
                });
            Ok(())
        })?;
    }
    Tensor::from_vec(out, dims, &Device::Cpu)
}

fn gated_gelu_row(out: &mut [f32], gate: &[f32], linear: &[f32]) {
    vectorised(
        #[inline(always)]
        || {
            for ((o, &x), &y) in out.iter_mut().zip(gate).zip(linear) {
                *o = gelu_new(x) * y;
            }
        },
    );
}

/// transformers' `gelu_new`: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
#[inline(always)]
fn gelu_new(x: f32) -> f32 {
    let u = SQRT_TWO_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// transformers' formula in f64, the reference.
    fn reference(x: f32) -> f64 {
        let x = x as f64;
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
    }

    #[test]
    fn gelu_matches_the_reference_and_saturates_without_nans() {
        let mut x = -30.0f32;
        while x < 30.0 {
            let (ours, exact) = (gelu_new(x) as f64, reference(x));
            // Relative where the value is large, absolute near zero.
            assert!(
                (ours - exact).abs() <= 1e-6 * exact.abs().max(1.0),
                "gelu({x}) = {ours}, expected {exact}"
            );
            x += 0.001_7;
        }
        for x in [-1e30f32, -1e4, -100.0, 100.0, 1e4, 1e30] {
            let y = gelu_new(x);
            assert!(y.is_finite(), "gelu({x}) = {y}");
            assert!(
                (y as f64 - reference(x)).abs() <= 1e-6 * reference(x).abs().max(1.0),
                "gelu({x}) = {y}"
            );
        }
    }

    #[test]
    fn fused_pass_equals_candle_gelu_times_linear() {
        // Several tasks' worth of rows, a width that does not divide CHUNK,
        // and a single row (a decoding step).
        for (rows, d_ff) in [(9, 3000), (1, 2048)] {
            let gate = Tensor::randn(0f32, 3f32, (1, rows, d_ff), &Device::Cpu).unwrap();
            let linear = Tensor::randn(0f32, 1f32, (1, rows, d_ff), &Device::Cpu).unwrap();
            let joined = Tensor::cat(&[&gate, &linear], 2).unwrap();
            let ours = gated_gelu(&joined).unwrap();
            assert_eq!(ours.dims(), &[1, rows, d_ff]);
            let candle = (gate.gelu().unwrap() * &linear).unwrap();
            let (ours, candle) = (
                ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                candle.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            for (i, (a, b)) in ours.iter().zip(&candle).enumerate() {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "element {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn an_odd_width_is_an_error() {
        let odd = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(gated_gelu(&odd).is_err());
    }
}
