//! The core of multi-head attention (scores, bias, softmax, weighted
//! values) for every head in one parallel pass.
//!
//! candle runs it as a batch of small products, each handed to gemm's
//! parallel mode, with a separate pass for the bias, the softmax (libm's
//! `expf`) and the copy that merges the heads. Here each head is one task on
//! the rayon pool: two single-threaded gemm calls and a vectorised softmax,
//! writing its columns of the merged output directly (BENCHMARKS.md,
//! change 9: a small gain, inside the noise for the whole encoder).

use super::fast_exp::{exp, vectorised};
use super::product::{gemm_into, is_cpu_f32, with_slice, Columns};
use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

/// Score-matrix elements (all heads) below which the heads run on the
/// calling thread: a decoding step's few thousand multiply-adds per head
/// take less time than handing them out.
const MIN_PARALLEL_SCORES: usize = 16 * 1024;

/// `softmax(q·kᵀ + bias)·v` per head, merged: `q` (1, heads, n, d),
/// `keys` and `values` (1, heads, m, d), `bias` broadcastable to
/// (1, heads, n, m); returns (1, n, heads·d). No 1/√d scaling (T5).
pub fn attend(q: &Tensor, keys: &Tensor, values: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (batch, heads, n, d) = q.dims4()?;
    let m = keys.dim(2)?;
    if keys.dims4()? != (batch, heads, m, d) || values.dims4()? != (batch, heads, m, d) {
        candle_core::bail!(
            "attention shapes disagree: q {:?}, keys {:?}, values {:?}",
            q.shape(),
            keys.shape(),
            values.shape()
        );
    }
    let bias = bias
        .map(|b| b.broadcast_as((batch, heads, n, m))?.contiguous())
        .transpose()?;
    if batch != 1 || ![q, keys, values].into_iter().chain(bias.as_ref()).all(is_cpu_f32) {
        return attend_with_candle(q, keys, values, bias.as_ref());
    }
    let (q, keys, values) = (q.contiguous()?, keys.contiguous()?, values.contiguous()?);
    let width = heads * d;
    let mut out = vec![0f32; n * width];
    let columns = Columns(out.as_mut_ptr());
    with_slice(&q, |q| {
        with_slice(&keys, |k| {
            with_slice(&values, |v| {
                let run = |bias: Option<&[f32]>| {
                    let head = |h: usize| {
                        let bias = bias.map(|b| &b[h * n * m..(h + 1) * n * m]);
                        let (q, k, v) = (&q[h * n * d..], &k[h * m * d..], &v[h * m * d..]);
                        // SAFETY: each head's slices hold n·d, m·d and m·d
                        // elements (shapes checked above), and head h writes
                        // only columns h·d..(h+1)·d of `out`, which outlives this call.
                        unsafe { one_head(columns.at(h * d), width, (n, m, d), q, k, v, bias) }
                    };
                    if heads * n * m < MIN_PARALLEL_SCORES {
                        (0..heads).for_each(head);
                    } else {
                        (0..heads).into_par_iter().for_each(head);
                    }
                };
                match &bias {
                    Some(b) => with_slice(b, |b| {
                        run(Some(b));
                        Ok(())
                    }),
                    None => {
                        run(None);
                        Ok(())
                    }
                }
            })
        })
    })?;
    Tensor::from_vec(out, (1, n, width), &Device::Cpu)
}

/// One head: `out` (n rows, `out_stride` apart, d columns) = softmax(q·kᵀ + bias)·v.
///
/// # Safety
/// `out` must reach n rows of d elements `out_stride` apart that no other
/// thread touches; `q` holds n·d elements, `k` and `v` m·d, `bias` n·m.
unsafe fn one_head(
    out: *mut f32,
    out_stride: usize,
    (n, m, d): (usize, usize, usize),
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bias: Option<&[f32]>,
) {
    let mut scores = vec![0f32; n * m];
    // scores (n, m) = q (n, d) · kᵀ: element (i, j) of kᵀ is k[j·d + i].
    // SAFETY: the slices hold what the dimensions reach; `scores` is ours.
    unsafe {
        gemm_into(
            scores.as_mut_ptr(),
            m,
            (n, m, d),
            (q.as_ptr(), d as isize, 1),
            (k.as_ptr(), 1, d as isize),
        )
    };
    for (i, row) in scores.chunks_exact_mut(m).enumerate() {
        softmax_in_place(row, bias.map(|b| &b[i * m..(i + 1) * m]));
    }
    // out (n, d) = weights (n, m) · v (m, d).
    // SAFETY: as above; `out` is guaranteed by the caller.
    unsafe {
        gemm_into(
            out,
            out_stride,
            (n, d, m),
            (scores.as_ptr(), m as isize, 1),
            (v.as_ptr(), d as isize, 1),
        )
    };
}

/// `row ← softmax(row + bias)`, shifted by the maximum so exp cannot overflow.
fn softmax_in_place(row: &mut [f32], bias: Option<&[f32]>) {
    vectorised(
        #[inline(always)]
        || {
            if let Some(bias) = bias {
                for (s, &b) in row.iter_mut().zip(bias) {
                    *s += b;
                }
            }
            let max = fold_in_lanes(row, f32::NEG_INFINITY, f32::max);
            for s in row.iter_mut() {
                *s = exp(*s - max);
            }
            let scale = 1.0 / fold_in_lanes(row, 0.0, |a, b| a + b);
            for s in row.iter_mut() {
                *s *= scale;
            }
        },
    );
}

/// Folds `values` with `op` in eight interleaved lanes, then the lanes
/// together. A single running value would be one long dependency chain the
/// compiler may not reorder (float addition is not associative); eight
/// independent ones become one vector.
#[inline(always)]
fn fold_in_lanes(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder().iter().fold(init, |a, &b| op(a, b));
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, value);
        }
    }
    lanes.into_iter().fold(rest, op)
}

/// The same computation in candle operations, for tensors this module does
/// not handle itself (another device or dtype, several sequences).
fn attend_with_candle(q: &Tensor, keys: &Tensor, values: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (b, heads, n, d) = q.dims4()?;
    let mut scores = q.matmul(&keys.t()?)?;
    if let Some(bias) = bias {
        scores = scores.broadcast_add(bias)?;
    }
    let weights = candle_nn::ops::softmax_last_dim(&scores)?;
    weights.matmul(values)?.transpose(1, 2)?.reshape((b, n, heads * d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(shape: (usize, usize, usize, usize)) -> Tensor {
        Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
    }

    fn assert_close(ours: &Tensor, expected: &Tensor) {
        assert_eq!(ours.dims(), expected.dims());
        let a = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = expected.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 2e-6 * y.abs().max(1.0), "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn matches_candle_for_a_prompt_with_position_bias() {
        // Enough scores to take the parallel path.
        let (h, n, d) = (6, 60, 16);
        let (q, k, v) = (random((1, h, n, d)), random((1, h, n, d)), random((1, h, n, d)));
        let bias = random((1, h, n, n));
        assert!(h * n * n >= MIN_PARALLEL_SCORES);
        let ours = attend(&q, &k, &v, Some(&bias)).unwrap();
        assert_close(&ours, &attend_with_candle(&q, &k, &v, Some(&bias)).unwrap());
    }

    #[test]
    fn matches_candle_for_a_decoding_step_with_broadcast_bias_and_without_bias() {
        let (h, m, d) = (4, 9, 8);
        let (q, k, v) = (random((1, h, 1, d)), random((1, h, m, d)), random((1, h, m, d)));
        let bias = random((1, h, 1, m));
        let ours = attend(&q, &k, &v, Some(&bias)).unwrap();
        assert_close(&ours, &attend_with_candle(&q, &k, &v, Some(&bias)).unwrap());
        let ours = attend(&q, &k, &v, None).unwrap();
        assert_close(&ours, &attend_with_candle(&q, &k, &v, None).unwrap());
    }

    #[test]
    fn large_scores_do_not_overflow_the_softmax() {
        let (q, k, v) = (random((1, 2, 3, 4)), random((1, 2, 5, 4)), random((1, 2, 5, 4)));
        let bias = (Tensor::ones((1, 2, 3, 5), candle_core::DType::F32, &Device::Cpu).unwrap() * 1e4).unwrap();
        let ours = attend(&q, &k, &v, Some(&bias)).unwrap();
        assert!(ours
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|x| x.is_finite()));
        assert_close(&ours, &attend_with_candle(&q, &k, &v, Some(&bias)).unwrap());
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let (q, k, v) = (random((1, 2, 3, 4)), random((1, 2, 5, 4)), random((1, 2, 6, 4)));
        assert!(attend(&q, &k, &v, None).is_err());
        let bias = random((1, 2, 3, 7));
        assert!(attend(&q, &k, &k, Some(&bias)).is_err());
    }
}
