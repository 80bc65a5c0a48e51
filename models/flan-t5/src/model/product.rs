//! Dense f32 products `x Wᵀ`, spread over the rayon pool by output columns.
//!
//! candle hands the whole product to gemm's own parallel mode, which splits
//! the encoder's shapes (about a hundred rows) poorly, and it multiplies by
//! the transposed view of an (out, in) weight, which gemm repacks on every
//! call. Here each task runs gemm on one thread over its own block of
//! output columns, with the weight kept (in, out) where many rows multiply
//! it: the flan-t5-base encoder pass went from 311 to 224 ms on two cores
//! (BENCHMARKS.md, change 7). The blocks are disjoint parts of one output
//! buffer, so nothing has to join them afterwards. A few rows by an
//! (out, in) weight, a decoding step or a batch of them, are a block of dot
//! products per task instead (`spread_dot_products`).

use super::fast_exp::vectorised;
use candle_core::{DType, Device, Result, Storage, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// Which way round a dense weight lies in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// (out, in), as checkpoints store it: each output's weights lie
    /// together, so one row at a time (a decoding step) streams the matrix
    /// once, in order.
    OutIn,
    /// (in, out): what gemm multiplies many rows (a prompt) by without
    /// repacking.
    InOut,
}

/// Fewest output columns a task computes, so that its work (tens of
/// microseconds even for one row) outweighs handing it to another thread.
const MIN_COLUMNS_PER_TASK: usize = 32;

/// Rows of the source a transpose task turns into rows of the result.
const TRANSPOSE_TILE: usize = 16;

/// `x` (rows, in) times the weight, giving (rows, out).
pub fn multiply(x: &Tensor, weight: &Tensor, orientation: Orientation) -> Result<Tensor> {
    let (rows, d_in) = x.dims2()?;
    let (d_out, w_in) = match orientation {
        Orientation::OutIn => weight.dims2()?,
        Orientation::InOut => {
            let (w_in, d_out) = weight.dims2()?;
            (d_out, w_in)
        }
    };
    if w_in != d_in {
        candle_core::bail!("cannot multiply ({rows}, {d_in}) by a weight with {w_in} inputs");
    }
    if !is_cpu_f32(x) || !is_cpu_f32(weight) || !weight.is_contiguous() {
        // Not a weight this module laid out (another device, or a zero-stride
        // placeholder that only lists shapes): candle multiplies any layout.
        return match orientation {
            Orientation::OutIn => x.matmul(&weight.t()?),
            Orientation::InOut => x.matmul(weight),
        };
    }
    let x = x.contiguous()?;
    let mut out = vec![0f32; rows * d_out];
    with_slice(&x, |xs| {
        with_slice(weight, |ws| {
            if rows <= MAX_DOT_PRODUCT_ROWS && orientation == Orientation::OutIn {
                spread_dot_products(&mut out, xs, rows, ws);
            } else {
                spread_columns(&mut out, xs, rows, d_in, ws, d_out, orientation);
            }
            Ok(())
        })
    })?;
    Tensor::from_vec(out, (rows, d_out), &Device::Cpu)
}

/// `weight` (out, in) as a contiguous (in, out) matrix.
///
/// candle's strided copy moves one element at a time; this one works in
/// tiles of whole cache lines, in parallel, and turns a flan-t5-base
/// checkpoint around in a fraction of its read time.
pub fn transpose(weight: &Tensor) -> Result<Tensor> {
    let (d_out, d_in) = weight.dims2()?;
    if !is_cpu_f32(weight) || !weight.is_contiguous() {
        // A view is enough for `multiply`, which takes such weights through
        // candle, and does not allocate for a placeholder of any size.
        return weight.t();
    }
    let mut out = vec![0f32; d_in * d_out];
    with_slice(weight, |w| {
        // Each task fills TRANSPOSE_TILE whole rows of the result: one
        // cache line read from every row of the source.
        out.par_chunks_mut(TRANSPOSE_TILE * d_out)
            .enumerate()
            .for_each(|(tile, chunk)| {
                let first = tile * TRANSPOSE_TILE;
                let tile_rows = chunk.len() / d_out;
                for (j, source_row) in w.chunks_exact(d_in).enumerate() {
                    for (i, &value) in source_row[first..first + tile_rows].iter().enumerate() {
                        chunk[i * d_out + j] = value;
                    }
                }
            });
        Ok(())
    })?;
    Tensor::from_vec(out, (d_in, d_out), &Device::Cpu)
}

pub(crate) fn is_cpu_f32(t: &Tensor) -> bool {
    matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32
}

/// Runs `f` on the elements of a contiguous CPU f32 tensor.
pub(crate) fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("expected a CPU tensor");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor");
    };
    f(&cpu.as_slice::<f32>()?[start..end])
}

/// A pointer into the output that tasks may share because each writes only
/// its own columns.
#[derive(Clone, Copy)]
pub(crate) struct Columns(pub(crate) *mut f32);
// SAFETY: see `spread_columns`; every task writes a disjoint set of elements.
unsafe impl Send for Columns {}
unsafe impl Sync for Columns {}

impl Columns {
    /// The output from element `offset` on. A method rather than `.0`, so
    /// that closures capture the whole (Send) wrapper, not the bare pointer.
    pub(crate) fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `out` (rows, d_out) = `x` (rows, d_in) · Wᵀ, split into blocks of output
/// columns, each a single-threaded gemm call.
///
/// A few blocks per thread, so that a core slowed by other work does not
/// hold the product back: the others take its remaining blocks. Splitting by
/// columns leaves each output a dot product over the whole input row, but
/// gemm may group the summation differently for a narrower block: results
/// differ from one call at rounding level only.
fn spread_columns(
    out: &mut [f32],
    x: &[f32],
    rows: usize,
    d_in: usize,
    w: &[f32],
    d_out: usize,
    orientation: Orientation,
) {
    assert!(out.len() == rows * d_out && x.len() == rows * d_in && w.len() == d_in * d_out);
    let tasks = (rayon::current_num_threads() * 4)
        .min(d_out / MIN_COLUMNS_PER_TASK)
        .max(1);
    let block = d_out.div_ceil(tasks).max(1);
    let columns = Columns(out.as_mut_ptr());
    (0..d_out.div_ceil(block)).into_par_iter().for_each(|i| {
        let first = i * block;
        let width = block.min(d_out - first);
        // gemm's right-hand side is (d_in, width): element (k, j) is W[first + j][k].
        let (rhs, rhs_rs, rhs_cs) = match orientation {
            Orientation::OutIn => (w[first * d_in..].as_ptr(), 1, d_in as isize),
            Orientation::InOut => (w[first..].as_ptr(), d_out as isize, 1),
        };
        // SAFETY: the operands hold rows·d_in and d_in·d_out elements (checked
        // above) and the strides stay inside them; this task writes only
        // columns first..first+width of each output row, which no other task
        // touches, and `out` outlives the parallel loop.
        unsafe {
            gemm_into(
                columns.at(first),
                d_out,
                (rows, width, d_in),
                (x.as_ptr(), d_in as isize, 1),
                (rhs, rhs_rs, rhs_cs),
            )
        }
    });
}

/// Outputs per task of a one-row product: each reads this many weight rows
/// (at base widths a few hundred KiB), enough to outweigh the hand-over.
const MIN_OUTPUTS_PER_TASK: usize = 64;

/// Most input rows multiplied by an (out, in) weight as dot products: the
/// decoding steps of a few concurrent requests, batched. More rows go to gemm.
pub(crate) const MAX_DOT_PRODUCT_ROWS: usize = 8;

/// `out` (rows, d_out) = `x` (rows, d_in) · Wᵀ for W (d_out, d_in), one dot
/// product per output, split into blocks of outputs over the pool.
///
/// A decoding step's products are one row each (a few, when concurrent
/// requests are batched) and bound by how fast the weights stream from
/// memory; gemm's general kernels, handed so few rows, leave part of that
/// unused. Each weight row here is read once, in order, and multiplied by
/// every input row while it is in cache, with the sums kept in independent
/// lanes so that the loop vectorises. A row's outputs do not depend on the
/// other rows, so a batched step computes exactly what it would alone.
fn spread_dot_products(out: &mut [f32], x: &[f32], rows: usize, w: &[f32]) {
    let d_in = x.len() / rows.max(1);
    assert!(rows > 0 && d_in > 0 && x.len() == rows * d_in && w.len().is_multiple_of(d_in));
    let d_out = w.len() / d_in;
    assert_eq!(out.len(), rows * d_out);
    let tasks = (rayon::current_num_threads() * 4)
        .min(d_out / MIN_OUTPUTS_PER_TASK)
        .max(1);
    let block = d_out.div_ceil(tasks);
    let columns = Columns(out.as_mut_ptr());
    w.par_chunks(block * d_in).enumerate().for_each(|(i, w)| {
        // SAFETY: block i covers outputs i·block.. of every row, which no
        // other task writes; `out` holds rows·d_out elements and outlives the loop.
        unsafe { dot_products(columns.at(i * block), d_out, x, d_in, w) }
    });
}

/// Writes `dot(x_r, w_j)` to `out[r·out_stride + j]` for every input row r
/// of `x` and weight row j of `w`, rows `d_in` long.
///
/// # Safety
/// For every row r of `x`, `out[r·out_stride..][..w.len() / d_in]` must be
/// valid for writes and touched by no other thread.
unsafe fn dot_products(out: *mut f32, out_stride: usize, x: &[f32], d_in: usize, w: &[f32]) {
    let out = Columns(out);
    vectorised(
        #[inline(always)]
        || {
            for (j, weights) in w.chunks_exact(d_in).enumerate() {
                for (r, x) in x.chunks_exact(d_in).enumerate() {
                    // SAFETY: inside the part of `out` the caller vouches for.
                    unsafe { *out.at(r * out_stride + j) = dot(x, weights) };
                }
            }
        },
    );
}

/// Σ aᵢ·bᵢ in `LANES` interleaved running sums, then the sums together: one
/// running sum would be a chain of dependent additions the compiler may not
/// reorder; independent ones become vector registers.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 32;
    let mut lanes = [0f32; LANES];
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (a, b) in a_blocks.zip(b_blocks) {
        for ((lane, x), y) in lanes.iter_mut().zip(a).zip(b) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// A matrix operand of [`gemm_into`]: start, row stride, column stride (in elements).
pub(crate) type Operand = (*const f32, isize, isize);

/// `dst = lhs · rhs` with (m, n, k) = `dims`, on the calling thread; `dst`
/// is row-major with `dst_row_stride` elements from one row to the next.
///
/// # Safety
/// Every element the dimensions and strides reach must lie inside its
/// operand, and no other thread may touch the part of `dst` written.
pub(crate) unsafe fn gemm_into(
    dst: *mut f32,
    dst_row_stride: usize,
    dims: (usize, usize, usize),
    lhs: Operand,
    rhs: Operand,
) {
    let (m, n, k) = dims;
    // SAFETY: forwarded to the caller.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            false,
            lhs.0,
            lhs.2,
            lhs.1,
            rhs.0,
            rhs.2,
            rhs.1,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(shape: (usize, usize)) -> Tensor {
        Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
    }

    /// Checks every output of `ours` against `x · wᵀ` (w is (out, in))
    /// computed in f64, within the worst-case rounding bound of an f32 dot
    /// product of length k, k·ε·Σ|xᵢ·wᵢ|: any summation order stays inside
    /// it, while a wrong row, column or offset is off by the size of the
    /// values themselves.
    fn assert_within_rounding(ours: &Tensor, x: &Tensor, w: &Tensor, what: &str) {
        let (x, w, y) = (
            x.to_vec2::<f32>().unwrap(),
            w.to_vec2::<f32>().unwrap(),
            ours.to_vec2::<f32>().unwrap(),
        );
        assert_eq!((y.len(), y[0].len()), (x.len(), w.len()), "{what}: shape");
        for (i, row) in x.iter().enumerate() {
            for (j, weights) in w.iter().enumerate() {
                let exact: f64 = row.iter().zip(weights).map(|(a, b)| *a as f64 * *b as f64).sum();
                let magnitude: f64 = row
                    .iter()
                    .zip(weights)
                    .map(|(a, b)| (*a as f64 * *b as f64).abs())
                    .sum();
                let bound = row.len() as f64 * f32::EPSILON as f64 * magnitude + f32::MIN_POSITIVE as f64;
                let diff = (y[i][j] as f64 - exact).abs();
                assert!(
                    diff <= bound,
                    "{what}: y[{i}][{j}] = {}, exact {exact}, bound {bound}",
                    y[i][j]
                );
            }
        }
    }

    #[test]
    fn transpose_matches_candle_for_uneven_shapes() {
        for (rows, cols) in [(1, 1), (3, 17), (40, 33), (100, 64)] {
            let w = random((rows, cols));
            let ours = transpose(&w).unwrap();
            assert_eq!(ours.dims2().unwrap(), (cols, rows));
            let expected = w.t().unwrap().contiguous().unwrap();
            assert_eq!(ours.to_vec2::<f32>().unwrap(), expected.to_vec2::<f32>().unwrap());
        }
    }

    #[test]
    fn both_orientations_give_the_product_to_rounding() {
        // One row (a decoding step: dot products, widths that do and do not
        // fill the lanes), a prompt's worth, widths that do and do not divide
        // into the task blocks.
        for (rows, d_in, d_out) in [
            (1, 512, 1000),
            (1, 33, 130),
            (1, 8, 1),
            (3, 512, 1000),
            (MAX_DOT_PRODUCT_ROWS, 33, 130),
            (MAX_DOT_PRODUCT_ROWS + 1, 64, 96),
            (95, 64, 96),
            (7, 33, 250),
            (2, 8, 5),
        ] {
            let (x, w) = (random((rows, d_in)), random((d_out, d_in)));
            let out_in = multiply(&x, &w, Orientation::OutIn).unwrap();
            let in_out = multiply(&x, &transpose(&w).unwrap(), Orientation::InOut).unwrap();
            // Rounding-level differences only: gemm may sum a narrower block in another order.
            assert_within_rounding(&out_in, &x, &w, &format!("{rows}x{d_in}x{d_out} (out, in)"));
            assert_within_rounding(&in_out, &x, &w, &format!("{rows}x{d_in}x{d_out} (in, out)"));
        }
    }

    #[test]
    fn a_row_multiplied_with_others_gives_what_it_gives_alone() {
        // Batched decoding steps must not change any request's numbers.
        let w = random((300, 96));
        let x = random((5, 96));
        let together = multiply(&x, &w, Orientation::OutIn).unwrap().to_vec2::<f32>().unwrap();
        for (r, row) in together.iter().enumerate() {
            let alone = multiply(&x.narrow(0, r, 1).unwrap(), &w, Orientation::OutIn).unwrap();
            assert_eq!(row, &alone.to_vec2::<f32>().unwrap()[0], "row {r}");
        }
    }

    #[test]
    fn a_strided_input_is_multiplied_as_its_values() {
        let x = random((16, 24)).t().unwrap(); // (24, 16), not contiguous
        let w = random((40, 16));
        let ours = multiply(&x, &w, Orientation::OutIn).unwrap();
        assert_within_rounding(&ours, &x, &w, "strided input");
    }

    #[test]
    fn mismatched_widths_are_an_error_not_a_panic() {
        let (x, w) = (random((3, 8)), random((5, 9)));
        assert!(multiply(&x, &w, Orientation::OutIn).is_err());
        assert!(multiply(&x, &w, Orientation::InOut).is_err());
    }
}
