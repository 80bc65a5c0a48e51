//! An `e^x` the compiler can vectorise, for the activation and the softmax,
//! and the switch that compiles such loops (those and the decoder's dot
//! products) for wider vectors on x86-64. On aarch64 NEON is part of the
//! baseline target, so the same loops vectorise without a switch, and the
//! x86 one is not compiled at all.
//!
//! libm's `expf` is a call per element; this is a handful of
//! multiply-adds with no branches and no table, so loops over slices
//! become SIMD code.

/// `e^x` to about 2e-7 relative over the whole f32 range, branch-free so
/// that it vectorises: `e^x = 2^n · e^r` with `n = round(x·log₂e)` and
/// `|r| ≤ ln2/2`, where a degree-7 Taylor polynomial is exact to rounding.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Beyond these e^x under- or overflows f32 anyway; clamping keeps 2^n a
    // normal number (e^-87.3 is ~1e-38, as good as 0 beside the other terms).
    let x = x.clamp(-87.3, 88.3);
    // Round to nearest by the 1.5·2²³ trick (no libm call, vectorises
    // without SSE4.1's round instruction).
    const ROUNDER: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUNDER) - ROUNDER;
    // ln 2 in two parts, so that n·ln2 is subtracted without rounding error.
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    // Σ rᵏ/k! for k ≤ 7, by Horner's rule.
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n by building the float's exponent field.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// Calls `f` compiled for AVX2 and FMA when the CPU has them: the default
/// x86-64 target assumes SSE2 only, which gives loops 4-wide vectors and no
/// fused multiply-adds. Only code inlined into the wrapper gets its
/// features, so callers mark the closure `#[inline(always)]`.
#[inline(always)]
pub fn vectorised(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn with_avx2(f: impl FnOnce()) {
            f()
        }
        // SAFETY: the CPU has the features the wrapper is compiled for.
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_range_that_matters() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, exact) = (exp(x) as f64, (x as f64).exp());
            assert!(
                ((ours - exact) / exact).abs() < 5e-7,
                "exp({x}) = {ours}, expected {exact}"
            );
            x += 0.0137;
        }
    }
}
