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
use candle_core::{DType, Device, Result, Storage, Tensor};
use rayon::prelude::*;

/// √(2/π), the tanh approximation's scale.
const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
/// Elements per task: a few microseconds of work each.
const CHUNK: usize = 8 * 1024;

/// `gelu_new(gate) * linear` for two tensors of the same shape.
pub fn gated_gelu(gate: &Tensor, linear: &Tensor) -> Result<Tensor> {
    let cpu_f32 = |t: &Tensor| matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32;
    if gate.shape() != linear.shape() || !cpu_f32(gate) || !cpu_f32(linear) {
        return gate.gelu()? * linear;
    }
    let (gate, linear) = (gate.contiguous()?, linear.contiguous()?);
    let mut out = vec![0f32; gate.elem_count()];
    {
        let (g_storage, g_layout) = gate.storage_and_layout();
        let (l_storage, l_layout) = linear.storage_and_layout();
        let (Storage::Cpu(g), Storage::Cpu(l)) = (&*g_storage, &*l_storage) else {
            candle_core::bail!("expected CPU tensors");
        };
        let (Some((g0, g1)), Some((l0, l1))) = (g_layout.contiguous_offsets(), l_layout.contiguous_offsets()) else {
            candle_core::bail!("expected contiguous tensors");
        };
        let (g, l) = (&g.as_slice::<f32>()?[g0..g1], &l.as_slice::<f32>()?[l0..l1]);
        out.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK).zip(l.par_chunks(CHUNK)))
            .for_each(|(out, (g, l))| gated_gelu_chunk(out, g, l));
    }
    Tensor::from_vec(out, gate.shape(), &Device::Cpu)
}

fn gated_gelu_chunk(out: &mut [f32], gate: &[f32], linear: &[f32]) {
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
        // More than one chunk, and a length that does not divide into chunks.
        let n = 3 * CHUNK + 123;
        let gate = (Tensor::randn(0f32, 3f32, (1, n), &Device::Cpu).unwrap())
            .contiguous()
            .unwrap();
        let linear = Tensor::randn(0f32, 1f32, (1, n), &Device::Cpu).unwrap();
        let ours = gated_gelu(&gate, &linear)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let candle = (gate.gelu().unwrap() * &linear)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (i, (a, b)) in ours.iter().zip(&candle).enumerate() {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "element {i}: {a} vs {b}");
        }
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let a = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(gated_gelu(&a, &b).is_err());
    }
}
