//! q8_0 products on x86-64 CPUs with AVX2 but no AVX-512 VNNI, for any
//! number of rows: an int8 GEMM for the encoder and a bandwidth-bound GEMV
//! for decoding, from one kernel.
//!
//! candle's fast x86 q8_0 path (weights repacked into 16-row tiles) needs
//! AVX-512 VNNI; without it candle multiplies q8_0 weights one 32-value
//! block pair at a time (two f16 conversions, two sign operations and a
//! horizontal sum per dot product), and the flan-t5 q8_0 encoder ran 4–6×
//! slower than the f32 one on an AVX2-only EPYC (BENCHMARKS.md, "Flan-T5
//! int8: encoder and decode bandwidth").
//!
//! Here the weight is repacked once at load into [`Tile`]s: 8 output rows ×
//! one 32-value block, with the 8 rows' bytes interleaved 4 at a time so
//! that one 256-bit `maddubs` multiplies 4 inputs into 8 outputs, then the
//! block's f16 scales and weight sums. Up to [`MR`] input rows share each
//! weight tile load, and the work is split by output tiles over the rayon
//! pool. Each call quantizes its input rows once, in one of two ways:
//!
//! * up to [`SIGNED_MAX_ROWS`] rows (decoding steps): to q8_0 exactly as
//!   candle does it (same scale, same rounding), so every block's integer
//!   dot product is the one candle computes; only the f32 summation of the
//!   scaled block sums runs in another order (rounding level). The sign
//!   trick (`|w|` times `sign(a, w)`) keeps `maddubs`' pairwise sums within
//!   i16 (2·127·128 < 32768) at full 8-bit precision;
//! * more rows (prompts): to 6 bits shifted to 1..=63, multiplied as
//!   unsigned bytes with no sign op, two `maddubs` summed in i16 per
//!   `madd`, the shift taken back through the tile's weight sums; top-1
//!   agreement with f32 83.6 % (8 bits everywhere: 89.4 %; 7 bits without
//!   the pairing: 87.3 %; CTranslate2 int8: 64.3 %; BENCHMARKS.md).
//!
//! Weights that only multiply prompts (the encoder's but its feed-forward
//! output, and the cross-attention keys and values: [`PackedQ8::for_rows`])
//! are re-quantized at load to 7 bits with one scale per output row, as
//! CTranslate2 lays out int8, and their inputs to 7 bits with one scale per
//! row ([`ROW_LEVELS`]): the same paired unsigned kernel then sums in i32
//! over the whole row and converts once per output instead of once per 32
//! inputs (the encoder ~1.25× faster at flan-t5-base; agreement 77.7 %).

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result, Tensor};
use half::f16;
use rayon::prelude::*;

/// Output rows per tile (one 256-bit register of i32 or f32).
const NR: usize = 8;
/// Inputs per q8_0 block.
const QK: usize = 32;
/// Bytes of one q8_0 block: an f16 scale and 32 signed bytes.
const BLOCK_BYTES: usize = 2 + QK;
/// Input rows multiplied against one tile load.
const MR: usize = 4;

/// One q8_0 block of 8 output rows: `qs[s][c][j]` is row `c`'s input
/// `4s + j` of the block, `d[c]` its scale (f16 bits, as q8_0 stores it)
/// and `neg_sum[c]` minus the sum of its 32 weights (the offset correction
/// of the unsigned kernel). 288 bytes, as with f32 scales before, so a
/// decoding step reads no more than it did.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Tile {
    qs: [i8; QK * NR],
    d: [u16; NR],
    neg_sum: [i16; NR],
}

/// A q8_0 weight (n, k) repacked for [`matmul`].
#[derive(Debug)]
pub struct PackedQ8 {
    n: usize,
    k: usize,
    /// `[n.div_ceil(8)][k / 32]`; rows past `n` are zero.
    tiles: Vec<Tile>,
    /// Set for weights re-quantized with one scale per output row
    /// ([`PackedQ8::per_row`]): the tiles' `d` are then unused.
    rows: Option<RowScales>,
}

/// Most inputs of a [`PackedQ8::per_row`] weight: its i32 sums stay below
/// 2²⁴ (k · 63 · 127), where f32 holds them exactly.
pub const PER_ROW_MAX_K: usize = 2048;
const _: () = assert!(PER_ROW_MAX_K * (2 * ROW_LEVELS as usize + 1) * ROW_WEIGHT_LEVELS as usize <= 1 << 24);

/// Per-row activations: 7 bits, -63..=63 (scale amax/63), shifted by
/// [`ROW_OFFSET`] to 1..=127; per-row weights: 7 bits too, -63..=63
/// ([`ROW_WEIGHT_LEVELS`]), so two `maddubs` pair sums still add up within
/// i16 (2 · 2·127·63 = 32004 < 32768).
const ROW_LEVELS: i8 = 63;
/// See [`ROW_LEVELS`].
const ROW_OFFSET: i8 = ROW_LEVELS + 1;
/// See [`ROW_LEVELS`].
const ROW_WEIGHT_LEVELS: i8 = 63;
const _: () = assert!(2 * 2 * (ROW_LEVELS as i32 + ROW_OFFSET as i32) * (ROW_WEIGHT_LEVELS as i32) < 32768);

/// One scale per output row (f32) and minus the sum of the row's bytes,
/// `[n.div_ceil(8) * 8]` each (zero past `n`).
#[derive(Debug)]
struct RowScales {
    scale: Vec<f32>,
    neg_sum: Vec<i32>,
}

impl std::fmt::Debug for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tile")
    }
}

/// Whether this CPU runs [`matmul`] (AVX2, FMA and F16C).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether candle's own repacked q8_0 tiles (AVX-512 VNNI) serve many-row
/// products on this CPU; they did the encoder in 22 / 49 ms (small / base)
/// where measured, so prompts stay with them there.
pub fn candle_has_vnni_tiles() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedQ8 {
    /// Repacks q8_0 weights (each (n_i, k), rows in order) as one weight
    /// whose output rows are theirs one after the other.
    #[cfg(all(test, target_arch = "x86_64"))]
    pub fn new(parts: &[&QTensor]) -> Result<Self> {
        Self::pack(parts, false)
    }

    /// As [`PackedQ8::new`], but each output row re-quantized from its q8_0
    /// blocks to int8 with one scale for the whole row (amax/127), as
    /// CTranslate2 stores its int8 weights: products then multiply every
    /// input row quantized with one scale too ([`ROW_LEVELS`]),
    /// sum in i32 over all inputs and convert once per output. For weights
    /// that only ever multiply many rows (the encoder's).
    #[cfg(all(test, target_arch = "x86_64"))]
    pub fn per_row(parts: &[&QTensor]) -> Result<Self> {
        Self::pack(parts, true)
    }

    /// [`PackedQ8::per_row`] for weights that multiply many rows per call
    /// and have at most [`PER_ROW_MAX_K`] inputs, else [`PackedQ8::new`].
    pub fn for_rows(parts: &[&QTensor], many_rows: bool) -> Result<Self> {
        let k = parts.first().map(|q| q.shape().dims().last().copied().unwrap_or(0));
        Self::pack(parts, many_rows && k.is_some_and(|k| k <= PER_ROW_MAX_K))
    }

    fn pack(parts: &[&QTensor], per_row: bool) -> Result<Self> {
        let mut rows: Vec<&[u8]> = Vec::new();
        let mut datas = Vec::with_capacity(parts.len());
        let mut k = None;
        for q in parts {
            if q.dtype() != GgmlDType::Q8_0 {
                candle_core::bail!("PackedQ8 takes q8_0 weights, not {:?}", q.dtype());
            }
            let (n_i, k_i) = q.shape().dims2()?;
            if *k.get_or_insert(k_i) != k_i {
                candle_core::bail!("joined weights of {} and {k_i} inputs", k.unwrap_or(0));
            }
            datas.push((n_i, q.data()?));
        }
        let k = k.unwrap_or(0);
        if k == 0 || !k.is_multiple_of(QK) {
            candle_core::bail!("a q8_0 weight of {k} inputs");
        }
        if per_row && k > PER_ROW_MAX_K {
            candle_core::bail!("a per-row int8 weight of {k} inputs (at most {PER_ROW_MAX_K})");
        }
        let kb = k / QK;
        let row_bytes = kb * BLOCK_BYTES;
        for (n_i, data) in &datas {
            if data.len() != n_i * row_bytes {
                candle_core::bail!("a q8_0 ({n_i}, {k}) weight of {} bytes", data.len());
            }
            rows.extend(data.chunks_exact(row_bytes));
        }
        let n = rows.len();
        let mut row_scales = None;
        let requantized: Vec<u8>;
        if per_row {
            let mut scale = vec![0f32; n.div_ceil(NR) * NR];
            let mut neg_sum = vec![0i32; n.div_ceil(NR) * NR];
            let mut bytes = vec![0u8; n * row_bytes];
            bytes
                .par_chunks_mut(row_bytes)
                .zip(rows.par_iter())
                .zip(scale.par_iter_mut().zip(neg_sum.par_iter_mut()))
                .for_each(|((out, row), (scale, neg_sum))| {
                    (*scale, *neg_sum) = requantize_row(row, out);
                });
            requantized = bytes;
            rows = requantized.chunks_exact(row_bytes).collect();
            row_scales = Some(RowScales { scale, neg_sum });
        }
        let empty = Tile {
            qs: [0; QK * NR],
            d: [0; NR],
            neg_sum: [0; NR],
        };
        let mut tiles = vec![empty; n.div_ceil(NR) * kb];
        // In parallel: at load, base's 0.2 GB of q8_0 weights took ~0.4 s on one core.
        tiles
            .par_chunks_mut(kb)
            .zip(rows.par_chunks(NR))
            .for_each(|(tiles, group)| {
                for (c, row) in group.iter().enumerate() {
                    for (tile, block) in tiles.iter_mut().zip(row.chunks_exact(BLOCK_BYTES)) {
                        tile.d[c] = u16::from_le_bytes([block[0], block[1]]);
                        for (i, &q) in block[2..].iter().enumerate() {
                            tile.qs[(i / 4) * NR * 4 + c * 4 + i % 4] = q as i8;
                        }
                        // |sum| <= 32 * 128: an i16.
                        tile.neg_sum[c] = -block[2..].iter().map(|&q| q as i8 as i16).sum::<i16>();
                    }
                }
            });
        Ok(Self {
            n,
            k,
            tiles,
            rows: row_scales,
        })
    }

    /// Output rows (the joined parts' together).
    #[cfg(all(test, target_arch = "x86_64"))]
    fn rows(&self) -> usize {
        self.n
    }
}

/// One q8_0 row (blocks of an f16 scale and 32 bytes) re-quantized to int8
/// with one scale for the row, amax/127 (nearest, ties to even), written
/// to `out` in the same block layout with zero scales; returns the scale
/// and minus the sum of the bytes.
fn requantize_row(row: &[u8], out: &mut [u8]) -> (f32, i32) {
    let mut values = [0f32; PER_ROW_MAX_K];
    let values = &mut values[..row.len() / BLOCK_BYTES * QK];
    for (block, values) in row.chunks_exact(BLOCK_BYTES).zip(values.chunks_exact_mut(QK)) {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        for (v, &q) in values.iter_mut().zip(&block[2..]) {
            *v = d * q as i8 as f32;
        }
    }
    let amax = values.iter().fold(0f32, |a, v| a.max(v.abs()));
    let scale = amax / ROW_WEIGHT_LEVELS as f32;
    let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    let mut sum = 0i32;
    for (values, dst) in values.chunks_exact(QK).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        dst[0] = 0;
        dst[1] = 0;
        for (i, v) in values.iter().enumerate() {
            let q = (v * inverse)
                .round_ties_even()
                .clamp(-(ROW_WEIGHT_LEVELS as f32), ROW_WEIGHT_LEVELS as f32) as i8;
            dst[2 + i] = q as u8;
            sum += q as i32;
        }
    }
    (scale, -sum)
}

/// Input rows quantized in 32-value blocks: `qs` (m, k) and one f32 scale
/// per block (per row with [`Mode::Row7`]); a value is `(qs - offset) * d`.
struct Activations {
    qs: Vec<i8>,
    d: Vec<f32>,
    /// 0: q8_0 as candle quantizes it (the sign kernel); [`PROMPT_OFFSET`]:
    /// 6 bits shifted for the unsigned kernel ([`PROMPT_LEVELS`]);
    /// [`ROW_OFFSET`]: 7 bits per row shifted ([`ROW_LEVELS`]).
    offset: i8,
}

/// How [`quantize`] quantizes the input rows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// q8_0 blocks exactly as candle's (decoding steps).
    Q8,
    /// 6-bit blocks, shifted ([`PROMPT_LEVELS`]; prompts).
    Block6,
    /// 7 bits with one scale per row, shifted ([`ROW_LEVELS`]; against
    /// [`PackedQ8::per_row`] weights).
    Row7,
}

/// Products of more input rows than this quantize them to 6 bits and take
/// the unsigned kernel: `maddubs` of unsigned activations and signed
/// weights, no sign operation, with the offset taken back through each
/// tile's weight sums (`neg_sum`), and two `maddubs` per `madd`
/// ([`PROMPT_LEVELS`]): 5 ops per 8 inputs × 8 outputs × 1 row where the
/// sign kernel takes 8. Decoding steps (up to 4 rows) keep 8-bit activations.
const SIGNED_MAX_ROWS: usize = MR;

/// Prompts' activations: 6 bits, -31..=31 (scale amax/31), shifted by
/// [`PROMPT_OFFSET`] to 1..=63 for the unsigned kernel. Two `maddubs` pair
/// sums of such bytes and any i8 weights add up within i16
/// (2 · 2·63·128 = 32256 < 32768), so each `madd` widens 8 inputs, not 4.
const PROMPT_LEVELS: i8 = 31;
/// See [`PROMPT_LEVELS`].
const PROMPT_OFFSET: i8 = PROMPT_LEVELS + 1;
const _: () = assert!(2 * 2 * (PROMPT_LEVELS as i32 + PROMPT_OFFSET as i32) * 128 < 32768);

/// One block at 6 bits, shifted (what [`avx2::quantize_block_unsigned`]
/// does: scale amax/31, nearest with ties to even); returns the scale.
#[cfg(all(test, target_arch = "x86_64"))]
fn quantize_block_unsigned(x: &[f32], qs: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let scale = amax / PROMPT_LEVELS as f32;
    let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    for (q, v) in qs.iter_mut().zip(x) {
        *q = (v * inverse).round_ties_even() as i8 + PROMPT_OFFSET;
    }
    scale
}

/// One block as candle's `BlockQ8_0::from_float` quantizes it; returns the
/// scale (f16-rounded, widened).
fn quantize_block(x: &[f32], qs: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let scale = amax / 127.0;
    let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    for (q, v) in qs.iter_mut().zip(x) {
        *q = (v * inverse).round() as i8;
    }
    f16::from_f32(scale).to_f32()
}

/// Rows of input per quantizing task.
const QUANTIZE_ROWS_PER_TASK: usize = 8;

/// Quantizes each row of `x` (m, k) in 32-value blocks: with `offset` 0
/// exactly as candle's `BlockQ8_0::from_float` does (scale amax/127
/// rounded to f16; values rounded with the unrounded scale's inverse),
/// with [`Mode::Block6`] to 6 bits shifted by [`PROMPT_OFFSET`]
/// ([`SIGNED_MAX_ROWS`]), with [`Mode::Row7`] so with one scale per row.
fn quantize(x: &[f32], k: usize, mode: Mode) -> Activations {
    let m = x.len() / k;
    let kb = if mode == Mode::Row7 { 1 } else { k / QK };
    let offset = match mode {
        Mode::Q8 => 0,
        Mode::Block6 => PROMPT_OFFSET,
        Mode::Row7 => ROW_OFFSET,
    };
    let mut qs = vec![0i8; m * k];
    let mut d = vec![0f32; m * kb];
    let row = |(x, (qs, d)): (&[f32], (&mut [i8], &mut [f32]))| {
        if mode == Mode::Row7 {
            assert!(available(), "per-row activations are for the AVX2 kernel");
            // SAFETY: AVX2 and FMA are there; both rows hold k values, a
            // multiple of 32.
            #[cfg(target_arch = "x86_64")]
            {
                d[0] = unsafe { avx2::quantize_row_unsigned(x.as_ptr(), k, qs.as_mut_ptr()) };
            }
            return;
        }
        for ((x, qs), d) in x.chunks_exact(QK).zip(qs.chunks_exact_mut(QK)).zip(d.iter_mut()) {
            #[cfg(target_arch = "x86_64")]
            if available() {
                // SAFETY: AVX2 and FMA are there; both blocks hold 32 values.
                *d = unsafe {
                    if offset == 0 {
                        avx2::quantize_block(x.as_ptr(), qs.as_mut_ptr())
                    } else {
                        avx2::quantize_block_unsigned(x.as_ptr(), qs.as_mut_ptr())
                    }
                };
                continue;
            }
            assert_eq!(offset, 0, "6-bit activations are for the AVX2 kernel");
            *d = quantize_block(x, qs);
        }
    };
    if m < 2 * QUANTIZE_ROWS_PER_TASK {
        x.chunks_exact(k)
            .zip(qs.chunks_exact_mut(k).zip(d.chunks_exact_mut(kb)))
            .for_each(row);
    } else {
        x.par_chunks(k * QUANTIZE_ROWS_PER_TASK)
            .zip(
                qs.par_chunks_mut(k * QUANTIZE_ROWS_PER_TASK)
                    .zip(d.par_chunks_mut(kb * QUANTIZE_ROWS_PER_TASK)),
            )
            .for_each(|(x, (qs, d))| {
                x.chunks_exact(k)
                    .zip(qs.chunks_exact_mut(k).zip(d.chunks_exact_mut(kb)))
                    .for_each(row)
            });
    }
    Activations { qs, d, offset }
}

/// Fewest weight bytes a task streams, so that a decoding step's hand-over
/// to another thread (microseconds) stays small beside its work.
const MIN_TASK_BYTES: usize = 64 * 1024;

/// `x` (…, k) times the packed weight: (…, n). Call only where
/// [`available`] is true.
pub fn matmul(w: &PackedQ8, x: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let k = *dims.last().unwrap_or(&0);
    if k != w.k {
        candle_core::bail!("cannot multiply (…, {k}) by a q8_0 weight with {} inputs", w.k);
    }
    let m = x.elem_count() / k.max(1);
    // Read in place (no copy of the input); the caller passes it contiguous.
    let out = super::product::with_slice(&x.contiguous()?, |x| Ok(matmul_slices(w, x, m)))?;
    let mut out_dims = dims;
    *out_dims.last_mut().expect("rank >= 1") = w.n;
    Tensor::from_vec(out, out_dims, &Device::Cpu)
}

/// How `m` input rows are quantized for `w`.
fn mode_for(w: &PackedQ8, m: usize) -> Mode {
    if w.rows.is_some() {
        Mode::Row7
    } else if m > SIGNED_MAX_ROWS {
        Mode::Block6
    } else {
        Mode::Q8
    }
}

fn matmul_slices(w: &PackedQ8, x: &[f32], m: usize) -> Vec<f32> {
    assert!(available(), "int8::matmul needs AVX2 and FMA");
    let (n, k) = (w.n, w.k);
    let kb = k / QK;
    let acts = quantize(x, k, mode_for(w, m));
    let n_tiles = n.div_ceil(NR);
    if m == 0 || n_tiles == 0 {
        return vec![0f32; m * n];
    }
    // Not zeroed first: the tasks write every element (all rows of every
    // tile's columns) before `set_len` below.
    let mut out = Vec::<f32>::with_capacity(m * n);
    let tile_bytes = kb * std::mem::size_of::<Tile>();
    let threads = rayon::current_num_threads().max(1);
    // At least a task per thread; several when there are many rows, so
    // that work stealing evens out a core lost to another process.
    let tasks = if m <= MR { threads } else { threads * 4 };
    let per_task = n_tiles
        .div_ceil(tasks)
        .max(MIN_TASK_BYTES.div_ceil(tile_bytes * m.min(MR)))
        .min(n_tiles);
    let out_ptr = SendPtr(out.as_mut_ptr());
    let row_scales = |t: usize| {
        w.rows
            .as_ref()
            .map(|r| (&r.scale[t * NR..(t + 1) * NR], &r.neg_sum[t * NR..(t + 1) * NR]))
    };
    let run = |first: usize| {
        let last = (first + per_task).min(n_tiles);
        for t in first..last {
            let tiles = &w.tiles[t * kb..(t + 1) * kb];
            let cols = (n - t * NR).min(NR);
            let mut r0 = 0;
            while r0 < m {
                let mr = (m - r0).min(MR);
                // SAFETY: available() holds (asserted above); each task
                // writes only its own tiles' columns of `out`.
                unsafe { kernel(tiles, row_scales(t), &acts, k, r0, mr, out_ptr.get(), n, t * NR, cols) };
                r0 += mr;
            }
        }
    };
    if per_task >= n_tiles {
        run(0);
    } else {
        (0..n_tiles).into_par_iter().step_by(per_task).for_each(run);
    }
    // SAFETY: every one of the m × n elements was written above (each
    // tile column's `cols` outputs for rows 0..m, tiles 0..n_tiles).
    unsafe { out.set_len(m * n) };
    out
}

#[cfg(target_arch = "x86_64")]
use avx2::block as kernel;

/// Never called: [`available`] is false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    _: &[Tile],
    _: Option<(&[f32], &[i32])>,
    acts: &Activations,
    _: usize,
    _: usize,
    _: usize,
    _: *mut f32,
    _: usize,
    _: usize,
    _: usize,
) {
    unreachable!(
        "int8 kernels are x86-64 only ({} inputs, offset {})",
        acts.qs.len() + acts.d.len(),
        acts.offset
    )
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the tasks write disjoint columns of the buffer it points into,
// which outlives them.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Activations, Tile, MR, NR, PROMPT_LEVELS, PROMPT_OFFSET, QK, ROW_LEVELS, ROW_OFFSET};
    use half::f16;
    use std::arch::x86_64::*;

    /// [`super::quantize_block`] on 32 values at `x`, written to `qs`.
    /// `f32::round` (half away from zero) is `trunc(y ± (0.5 - 2⁻²⁵))`:
    /// below a half the sum stays under the next integer, from a half on it
    /// reaches it (at exactly one half by rounding to even), so the bytes are
    /// candle's.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_block(x: *const f32, qs: *mut i8) -> f32 {
        let sign = _mm256_set1_ps(-0.0);
        let (v, amax) = load_block(x);
        let scale = amax / 127.0;
        let inverse = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
        let below_half = _mm256_set1_ps(0.5 - f32::EPSILON / 4.0);
        let q = v.map(|v| {
            let y = _mm256_mul_ps(v, inverse);
            let half = _mm256_or_ps(below_half, _mm256_and_ps(y, sign));
            _mm256_cvttps_epi32(_mm256_add_ps(y, half))
        });
        let words = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        let bytes = _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(qs as *mut __m256i, bytes);
        f16::from_f32(scale).to_f32()
    }

    /// The 32 values at `x`, as four vectors, and their largest magnitude.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load_block(x: *const f32) -> ([__m256; 4], f32) {
        let sign = _mm256_set1_ps(-0.0);
        let v = [0, 8, 16, 24].map(|i| _mm256_loadu_ps(x.add(i)));
        let abs = v.map(|v| _mm256_andnot_ps(sign, v));
        let m = _mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3]));
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        (v, _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m))))
    }

    /// 32 values at `x` to 6 bits (-31..=31, scale amax/31, nearest with
    /// ties to even) plus [`PROMPT_OFFSET`], written to `qs`; returns the scale.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_block_unsigned(x: *const f32, qs: *mut i8) -> f32 {
        let (v, amax) = load_block(x);
        let scale = amax / PROMPT_LEVELS as f32;
        let inverse = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
        store_unsigned(v, inverse, PROMPT_OFFSET, qs);
        scale
    }

    /// The `k` values at `x` (a multiple of 32) to 7 bits with one scale,
    /// amax/63 (nearest, ties to even), plus [`ROW_OFFSET`], written to
    /// `qs`; returns the scale.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_row_unsigned(x: *const f32, k: usize, qs: *mut i8) -> f32 {
        let mut amax = 0f32;
        for b in 0..k / QK {
            amax = amax.max(load_block(x.add(b * QK)).1);
        }
        let scale = amax / ROW_LEVELS as f32;
        let inverse = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
        for b in 0..k / QK {
            store_unsigned(load_block(x.add(b * QK)).0, inverse, ROW_OFFSET, qs.add(b * QK));
        }
        scale
    }

    /// 32 values times `inverse`, rounded to nearest (ties to even), plus
    /// [`PROMPT_OFFSET`], as bytes at `qs`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_unsigned(v: [__m256; 4], inverse: __m256, offset: i8, qs: *mut i8) {
        let shift = _mm256_set1_epi32(offset as i32);
        // The default rounding mode: nearest, ties to even.
        let q = v.map(|v| _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v, inverse)), shift));
        let words = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        let bytes = _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(qs as *mut __m256i, bytes);
    }

    /// Rows `r0..r0 + mr` of the input against one column of tiles (8
    /// output rows), writing the first `cols` of them.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn block(
        tiles: &[Tile],
        row_scales: Option<(&[f32], &[i32])>,
        acts: &Activations,
        k: usize,
        r0: usize,
        mr: usize,
        out: *mut f32,
        n: usize,
        col0: usize,
        cols: usize,
    ) {
        let acc = if let Some((scale, neg_sum)) = row_scales {
            match mr {
                4 => rows_per_row::<4>(tiles, scale, neg_sum, acts, k, r0),
                3 => rows_per_row::<3>(tiles, scale, neg_sum, acts, k, r0),
                2 => rows_per_row::<2>(tiles, scale, neg_sum, acts, k, r0),
                _ => rows_per_row::<1>(tiles, scale, neg_sum, acts, k, r0),
            }
        } else if acts.offset == 0 {
            match mr {
                4 => rows::<4>(tiles, acts, k, r0),
                3 => rows::<3>(tiles, acts, k, r0),
                2 => rows::<2>(tiles, acts, k, r0),
                _ => rows::<1>(tiles, acts, k, r0),
            }
        } else {
            match mr {
                4 => rows_unsigned::<4>(tiles, acts, k, r0),
                3 => rows_unsigned::<3>(tiles, acts, k, r0),
                2 => rows_unsigned::<2>(tiles, acts, k, r0),
                _ => rows_unsigned::<1>(tiles, acts, k, r0),
            }
        };
        for (r, sum) in acc.iter().take(mr).enumerate() {
            let dst = out.add((r0 + r) * n + col0);
            if cols == NR {
                _mm256_storeu_ps(dst, *sum);
            } else {
                let mut lanes = [0f32; NR];
                _mm256_storeu_ps(lanes.as_mut_ptr(), *sum);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, cols);
            }
        }
    }

    /// Rows `r0..r0 + R` of 6-bit activations shifted to 1..=63 (unsigned)
    /// against one column of tiles: `maddubs(a, w)`, two of them summed per
    /// `madd`, the shift taken back by starting each block's sums at
    /// [`PROMPT_OFFSET`] × `neg_sum`. Returns [`MR`] sums
    /// of which the first `R` are set.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows_unsigned<const R: usize>(tiles: &[Tile], acts: &Activations, k: usize, r0: usize) -> [__m256; MR] {
        let kb = k / QK;
        let ones = _mm256_set1_epi16(1);
        let mut sums = [_mm256_setzero_ps(); MR];
        let qs = acts.qs.as_ptr().add(r0 * k);
        let ds = acts.d.as_ptr().add(r0 * kb);
        for (b, tile) in tiles.iter().enumerate() {
            const _: () = assert!(PROMPT_OFFSET == 1 << 5);
            let start = _mm256_slli_epi32(
                _mm256_cvtepi16_epi32(_mm_load_si128(tile.neg_sum.as_ptr() as *const __m128i)),
                5,
            );
            let mut dots = [start; R];
            let a = qs.add(b * QK);
            // Two groups of 4 inputs per `madd` (PROMPT_LEVELS).
            for s in (0..QK / 4).step_by(2) {
                let w0 = _mm256_load_si256(tile.qs.as_ptr().add(s * NR * 4) as *const __m256i);
                let w1 = _mm256_load_si256(tile.qs.as_ptr().add((s + 1) * NR * 4) as *const __m256i);
                for (r, dot) in dots.iter_mut().enumerate() {
                    let four0 = (a.add(r * k + s * 4) as *const i32).read_unaligned();
                    let four1 = (a.add(r * k + s * 4 + 4) as *const i32).read_unaligned();
                    let pairs = _mm256_add_epi16(
                        _mm256_maddubs_epi16(_mm256_set1_epi32(four0), w0),
                        _mm256_maddubs_epi16(_mm256_set1_epi32(four1), w1),
                    );
                    *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(pairs, ones));
                }
            }
            let dw = _mm256_cvtph_ps(_mm_load_si128(tile.d.as_ptr() as *const __m128i));
            for (r, (sum, dot)) in sums.iter_mut().zip(dots).enumerate() {
                let scale = _mm256_mul_ps(dw, _mm256_set1_ps(*ds.add(r * kb + b)));
                *sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, *sum);
            }
        }
        sums
    }

    /// Rows `r0..r0 + R` of 7-bit activations shifted to 1..=127, one
    /// scale per row, against one column of tiles of 7-bit per-row weights
    /// ([`super::PackedQ8::per_row`]): as [`rows_unsigned`], but the i32
    /// sums run over all inputs (|sum| ≤ k · 127 · 63 < 2²⁴ for k ≤ 2048,
    /// so the conversion to f32 is exact too), starting at
    /// [`ROW_OFFSET`] × the row's `neg_sum`, and are scaled once.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows_per_row<const R: usize>(
        tiles: &[Tile],
        scale: &[f32],
        neg_sum: &[i32],
        acts: &Activations,
        k: usize,
        r0: usize,
    ) -> [__m256; MR] {
        let ones = _mm256_set1_epi16(1);
        const _: () = assert!(ROW_OFFSET == 1 << 6);
        let start = _mm256_slli_epi32(_mm256_loadu_si256(neg_sum.as_ptr() as *const __m256i), 6);
        let mut dots = [start; R];
        let qs = acts.qs.as_ptr().add(r0 * k);
        for (b, tile) in tiles.iter().enumerate() {
            let a = qs.add(b * QK);
            for s in (0..QK / 4).step_by(2) {
                let w0 = _mm256_load_si256(tile.qs.as_ptr().add(s * NR * 4) as *const __m256i);
                let w1 = _mm256_load_si256(tile.qs.as_ptr().add((s + 1) * NR * 4) as *const __m256i);
                for (r, dot) in dots.iter_mut().enumerate() {
                    let four0 = (a.add(r * k + s * 4) as *const i32).read_unaligned();
                    let four1 = (a.add(r * k + s * 4 + 4) as *const i32).read_unaligned();
                    let pairs = _mm256_add_epi16(
                        _mm256_maddubs_epi16(_mm256_set1_epi32(four0), w0),
                        _mm256_maddubs_epi16(_mm256_set1_epi32(four1), w1),
                    );
                    *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        let dw = _mm256_loadu_ps(scale.as_ptr());
        let mut sums = [_mm256_setzero_ps(); MR];
        for (r, (sum, dot)) in sums.iter_mut().zip(dots).enumerate() {
            *sum = _mm256_mul_ps(
                _mm256_cvtepi32_ps(dot),
                _mm256_mul_ps(dw, _mm256_set1_ps(acts.d[r0 + r])),
            );
        }
        sums
    }

    /// Rows `r0..r0 + R` of q8_0 activations against one column of tiles,
    /// `|w| · sign(a, w)`. Returns [`MR`] sums of which the first `R` are set.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<const R: usize>(tiles: &[Tile], acts: &Activations, k: usize, r0: usize) -> [__m256; MR] {
        debug_assert!(R <= MR);
        let kb = k / QK;
        let ones = _mm256_set1_epi16(1);
        let mut sums = [_mm256_setzero_ps(); MR];
        let qs = acts.qs.as_ptr().add(r0 * k);
        let ds = acts.d.as_ptr().add(r0 * kb);
        for (b, tile) in tiles.iter().enumerate() {
            let mut dots = [_mm256_setzero_si256(); R];
            for s in 0..QK / 4 {
                let w = _mm256_load_si256(tile.qs.as_ptr().add(s * NR * 4) as *const __m256i);
                let magnitude = _mm256_abs_epi8(w);
                for (r, dot) in dots.iter_mut().enumerate() {
                    let four = (qs.add(r * k + b * QK + s * 4) as *const i32).read_unaligned();
                    let signed = _mm256_sign_epi8(_mm256_set1_epi32(four), w);
                    let pairs = _mm256_maddubs_epi16(magnitude, signed);
                    *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(pairs, ones));
                }
            }
            let dw = _mm256_cvtph_ps(_mm_load_si128(tile.d.as_ptr() as *const __m128i));
            for (r, (sum, dot)) in sums.iter_mut().zip(dots).enumerate() {
                let scale = _mm256_mul_ps(dw, _mm256_set1_ps(*ds.add(r * kb + b)));
                *sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, *sum);
            }
        }
        sums
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The exact value of every output in f64: the dequantized weight times
    /// the input quantized as [`matmul`] quantizes it for `m` rows (as
    /// candle does up to [`SIGNED_MAX_ROWS`], to 6 bits above).
    fn reference(w: &QTensor, x: &[f32], m: usize) -> Vec<f64> {
        let (n, k) = w.shape().dims2().unwrap();
        let wf = w.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        let acts = quantize(x, k, if m > SIGNED_MAX_ROWS { Mode::Block6 } else { Mode::Q8 });
        let mut out = vec![0f64; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k)
                    .map(|i| {
                        let q = acts.qs[r * k + i] as f64 - acts.offset as f64;
                        wf[c][i] as f64 * q * acts.d[r * (k / QK) + i / QK] as f64
                    })
                    .sum();
            }
        }
        out
    }

    fn random(rows: usize, cols: usize) -> Tensor {
        Tensor::randn(0f32, 1f32, (rows, cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn quantizes_rows_as_candle_does() {
        use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType};
        let x = random(4, 96).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut x = x;
        x[32..64].iter_mut().for_each(|v| *v = 0.0); // a block of zeros
                                                     // A block whose scale is 1: halves that round away from zero, and
                                                     // the floats either side of them.
        x[192] = 127.0;
        for (i, v) in [
            2.5f32,
            -2.5,
            0.5,
            -0.5,
            126.5,
            3.5,
            2.4999998,
            2.5000002,
            -0.49999997,
            0.0,
        ]
        .iter()
        .enumerate()
        {
            x[193 + i] = *v;
        }
        let ours = quantize(&x, 96, Mode::Q8);
        for (r, row) in x.chunks_exact(96).enumerate() {
            // The portable block quantizer too.
            for (b, block) in row.chunks_exact(32).enumerate() {
                let mut qs = [0i8; 32];
                assert_eq!(quantize_block(block, &mut qs), ours.d[r * 3 + b]);
                assert_eq!(&qs[..], &ours.qs[r * 96 + b * 32..r * 96 + (b + 1) * 32]);
            }
            let mut blocks = vec![BlockQ8_0::zeros(); 3];
            BlockQ8_0::from_float(row, &mut blocks);
            let mut theirs = vec![0f32; 96];
            BlockQ8_0::to_float(&blocks, &mut theirs);
            let mine: Vec<f32> = (0..96)
                .map(|i| ours.qs[r * 96 + i] as f32 * ours.d[r * 3 + i / 32])
                .collect();
            assert_eq!(mine, theirs, "row {r}");
        }
    }

    #[test]
    fn quantizes_rows_to_6_bits_shifted() {
        let mut x = random(3, 64).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        x[32..64].iter_mut().for_each(|v| *v = 0.0);
        // Scale 1: ties go to even.
        x[64] = 31.0;
        for (i, v) in [2.5f32, -2.5, 0.5, -0.5, 30.5, 3.5, -31.0].iter().enumerate() {
            x[65 + i] = *v;
        }
        let ours = quantize(&x, 64, Mode::Block6);
        assert_eq!(ours.offset, 32);
        assert_eq!(&ours.qs[65..72], &[34, 30, 32, 32, 62, 36, 1]);
        for (r, row) in x.chunks_exact(64).enumerate() {
            for (b, block) in row.chunks_exact(32).enumerate() {
                let mut qs = [0i8; 32];
                assert_eq!(quantize_block_unsigned(block, &mut qs), ours.d[r * 2 + b]);
                assert_eq!(&qs[..], &ours.qs[r * 64 + b * 32..r * 64 + (b + 1) * 32]);
                assert!(qs.iter().all(|q| (1..=63).contains(q)), "{qs:?}");
                let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
                for (q, v) in qs.iter().zip(block) {
                    let back = (*q as f32 - 32.0) * ours.d[r * 2 + b];
                    assert!((back - v).abs() <= amax / 62.0 * 1.0001, "{v} -> {back}");
                }
            }
        }
    }

    #[test]
    fn products_equal_the_exact_result_to_f32_rounding() {
        assert!(available(), "the x86-64 machines this runs on have AVX2 and FMA");
        // Rows below, at and above the 4-row step and one thread's share;
        // outputs that fill whole 8-row tiles and ones that do not; one
        // block of inputs and several.
        for (m, n, k) in [
            (1, 8, 32),
            (1, 13, 64),
            (3, 40, 96),
            (5, 64, 128),
            (37, 100, 256),
            (95, 384, 512),
        ] {
            let wf = random(n, k);
            let w = QTensor::quantize(&wf, GgmlDType::Q8_0).unwrap();
            let x = random(m, k);
            let packed = PackedQ8::new(&[&w]).unwrap();
            let ours = matmul(&packed, &x).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!((ours.len(), ours[0].len()), (m, n));
            let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let expected = reference(&w, &xs, m);
            // Bound: each of k/32 block sums is exact; the f32 scaling and
            // summing err by a few ulps of the absolute terms.
            let wq = w.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            for r in 0..m {
                for c in 0..n {
                    let magnitude: f64 = (0..k).map(|i| (wq[c][i] as f64 * xs[r * k + i] as f64).abs()).sum();
                    let bound = 1e-6 * magnitude.max(1.0) * (k / QK) as f64;
                    let (a, b) = (ours[r][c] as f64, expected[r * n + c]);
                    assert!((a - b).abs() <= bound, "({m},{n},{k}) [{r}][{c}]: {a} vs {b}");
                }
            }
            // And candle's own q8_0 product: to its rounding where the
            // activations are q8_0 as candle's; above SIGNED_MAX_ROWS within
            // what the two quantizations of the input can differ by (half a
            // 6-bit step, half a q8_0 step and its f16 scale, per input).
            let candle = candle_core::quantized::QMatMul::from_qtensor(w).unwrap();
            let theirs = candle_core::Module::forward(&candle, &x)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for r in 0..m {
                for c in 0..n {
                    let (a, b) = (ours[r][c], theirs[r][c]);
                    let bound = if m > SIGNED_MAX_ROWS {
                        let row = &xs[r * k..(r + 1) * k];
                        let spread: f64 = (0..k)
                            .map(|i| {
                                let block = &row[i / QK * QK..(i / QK + 1) * QK];
                                let amax = block.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
                                wq[c][i].abs() as f64 * amax * (0.5 / PROMPT_LEVELS as f64 + 0.6 / 127.0)
                            })
                            .sum();
                        spread * 1.01 + 1e-3 * b.abs().max(1.0) as f64
                    } else {
                        1e-3 * b.abs().max(1.0) as f64
                    };
                    assert!(
                        ((a - b).abs() as f64) <= bound,
                        "({m},{n},{k}) [{r}][{c}]: {a} vs candle {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_largest_bytes_do_not_saturate_the_paired_sums() {
        // Every weight ±127 and every 6-bit activation 63 (or 1): each i16
        // lane adds up two pairs at 2 · 2·63·127 = 32004, next to the limit
        // (with 7 bits it would wrap).
        let (m, n, k) = (6, 16, 64);
        let wf: Vec<f32> = (0..n * k).map(|i| if (i / k) % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let w = QTensor::quantize(&Tensor::from_vec(wf, (n, k), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
        let xs: Vec<f32> = (0..m * k).map(|i| if (i / k) == 3 { -2.0 } else { 2.0 }).collect();
        let x = Tensor::from_vec(xs.clone(), (m, k), &Device::Cpu).unwrap();
        let ours = matmul(&PackedQ8::new(&[&w]).unwrap(), &x)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let expected = reference(&w, &xs, m);
        for r in 0..m {
            for c in 0..n {
                let sign = if c % 2 == 0 { 1.0 } else { -1.0 } * if r == 3 { -1.0 } else { 1.0 };
                // 2 · 64 up to the weights' f16 scale.
                assert!((expected[r * n + c] - sign * 2.0 * k as f64).abs() < 0.05, "[{r}][{c}]");
                assert!(
                    (ours[r][c] as f64 - expected[r * n + c]).abs() <= 1e-3,
                    "[{r}][{c}]: {}",
                    ours[r][c]
                );
            }
        }
    }

    #[test]
    fn joined_weights_give_each_parts_outputs_side_by_side() {
        assert!(available(), "the x86-64 machines this runs on have AVX2 and FMA");
        let parts: Vec<QTensor> = [24, 40, 12]
            .iter()
            .map(|&n| QTensor::quantize(&random(n, 64), GgmlDType::Q8_0).unwrap())
            .collect();
        let x = random(6, 64);
        for per_row in [false, true] {
            let joined = PackedQ8::for_rows(&parts.iter().collect::<Vec<_>>(), per_row).unwrap();
            assert_eq!((joined.rows(), joined.rows.is_some()), (76, per_row));
            let ours = matmul(&joined, &x).unwrap().to_vec2::<f32>().unwrap();
            let mut column = 0;
            for part in &parts {
                let alone = matmul(&PackedQ8::for_rows(&[part], per_row).unwrap(), &x)
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap();
                for (r, row) in alone.iter().enumerate() {
                    assert_eq!(&ours[r][column..column + row.len()], &row[..], "per row: {per_row}");
                }
                column += part.shape().dims2().unwrap().0;
            }
        }
    }

    /// A per-row weight's bytes read back from its tiles, `[n][k]`.
    fn per_row_bytes(w: &PackedQ8) -> Vec<Vec<i8>> {
        let kb = w.k / QK;
        (0..w.n)
            .map(|c| {
                (0..w.k)
                    .map(|i| w.tiles[(c / NR) * kb + i / QK].qs[((i % QK) / 4) * NR * 4 + (c % NR) * 4 + i % 4])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn per_row_weights_hold_each_row_at_7_bits_with_one_scale() {
        let (n, k) = (21, 96);
        let mut wf = random(n, k).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        wf[k..2 * k].iter_mut().for_each(|v| *v = 0.0); // a row of zeros
        let w = QTensor::quantize(&Tensor::from_vec(wf, (n, k), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
        let q8 = w.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        let packed = PackedQ8::per_row(&[&w]).unwrap();
        let rows = packed.rows.as_ref().unwrap();
        let bytes = per_row_bytes(&packed);
        for c in 0..n {
            let amax = q8[c].iter().fold(0f32, |a, v| a.max(v.abs()));
            assert_eq!(rows.scale[c], amax / ROW_WEIGHT_LEVELS as f32, "row {c}");
            assert_eq!(rows.neg_sum[c], -bytes[c].iter().map(|&q| q as i32).sum::<i32>());
            for i in 0..k {
                let q = bytes[c][i];
                assert!((-ROW_WEIGHT_LEVELS..=ROW_WEIGHT_LEVELS).contains(&q), "{q}");
                let back = q as f32 * rows.scale[c];
                assert!((back - q8[c][i]).abs() <= rows.scale[c] * 0.5001, "[{c}][{i}]");
            }
        }
        assert!(bytes[1].iter().all(|&q| q == 0));
        assert!(rows.scale[n..].iter().all(|&d| d == 0.0) && rows.neg_sum[n..].iter().all(|&s| s == 0));
    }

    #[test]
    fn quantizes_rows_to_7_bits_with_one_scale() {
        let k = 64;
        let mut x = random(3, k).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        x[k..2 * k].iter_mut().for_each(|v| *v = 0.0);
        // Row 2 at scale 1: ties go to even.
        x[2 * k] = -63.0;
        for (i, v) in [2.5f32, -2.5, 0.5, -0.5, 62.5, 3.5, 63.0].iter().enumerate() {
            x[2 * k + 40 + i] = *v;
        }
        let ours = quantize(&x, k, Mode::Row7);
        assert_eq!((ours.offset, ours.d.len()), (64, 3));
        assert_eq!(ours.d[2], 1.0);
        assert_eq!(&ours.qs[2 * k + 40..2 * k + 47], &[66, 62, 64, 64, 126, 68, 127]);
        assert_eq!(ours.qs[2 * k], 1);
        assert!(ours.qs[k..2 * k].iter().all(|&q| q == 64));
        for (r, row) in x.chunks_exact(k).enumerate() {
            let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
            assert_eq!(ours.d[r], amax / ROW_LEVELS as f32);
            for (i, v) in row.iter().enumerate() {
                let q = ours.qs[r * k + i];
                assert!((1..=127).contains(&q), "{q}");
                let back = (q as f32 - 64.0) * ours.d[r];
                assert!((back - v).abs() <= amax / 126.0 * 1.0001, "{v} -> {back}");
            }
        }
    }

    /// The exact product of a per-row weight, as its tiles and scales hold
    /// it, and the input as [`quantize`] quantizes it for it.
    fn per_row_reference(w: &PackedQ8, x: &[f32]) -> Vec<f64> {
        let (n, k) = (w.n, w.k);
        let m = x.len() / k;
        let rows = w.rows.as_ref().unwrap();
        let bytes = per_row_bytes(w);
        let acts = quantize(x, k, Mode::Row7);
        let mut out = vec![0f64; m * n];
        for r in 0..m {
            for c in 0..n {
                let dot: i64 = (0..k)
                    .map(|i| bytes[c][i] as i64 * (acts.qs[r * k + i] as i64 - ROW_OFFSET as i64))
                    .sum();
                out[r * n + c] = dot as f64 * rows.scale[c] as f64 * acts.d[r] as f64;
            }
        }
        out
    }

    #[test]
    fn per_row_products_equal_the_exact_result_to_f32_rounding() {
        assert!(available(), "the x86-64 machines this runs on have AVX2 and FMA");
        for (m, n, k) in [(1, 8, 32), (2, 13, 64), (5, 40, 96), (37, 100, 256), (95, 24, 2048)] {
            let w = QTensor::quantize(&random(n, k), GgmlDType::Q8_0).unwrap();
            let x = random(m, k);
            let packed = PackedQ8::for_rows(&[&w], true).unwrap();
            assert!(packed.rows.is_some());
            let ours = matmul(&packed, &x).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!((ours.len(), ours[0].len()), (m, n));
            let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let expected = per_row_reference(&packed, &xs);
            // The i32 sum and its conversion are exact; two f32 roundings.
            for r in 0..m {
                for c in 0..n {
                    let (a, b) = (ours[r][c] as f64, expected[r * n + c]);
                    assert!(
                        (a - b).abs() <= 2.5e-7 * b.abs(),
                        "({m},{n},{k}) [{r}][{c}]: {a} vs {b}"
                    );
                }
            }
            // And the f32 product of the q8_0 weight, within what 7 bits
            // for a row of weights and a row of inputs can differ by.
            let wq = w.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            for r in 0..m {
                let row = &xs[r * k..(r + 1) * k];
                let xmax = row.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
                for c in 0..n {
                    let wmax = wq[c].iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
                    let exact: f64 = (0..k).map(|i| wq[c][i] as f64 * row[i] as f64).sum();
                    let bound: f64 = (0..k)
                        .map(|i| {
                            (wq[c][i].abs() as f64 + wmax / 126.0) * xmax / 126.0 + row[i].abs() as f64 * wmax / 126.0
                        })
                        .sum();
                    let a = ours[r][c] as f64;
                    assert!(
                        (a - exact).abs() <= bound * 1.01,
                        "({m},{n},{k}) [{r}][{c}]: {a} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn per_row_sums_at_their_largest_stay_exact() {
        // Every weight ±1 (±63 after re-quantizing) and every activation at
        // 127 or 1 (±63 shifted): each i16 lane adds two pairs at
        // 2 · 2·127·63 = 32004, and over 2048 inputs the i32 sums reach
        // 2048 · 127 · 63, just under 2²⁴.
        let (m, n, k) = (6, 16, PER_ROW_MAX_K);
        let wf: Vec<f32> = (0..n * k).map(|i| if (i / k) % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let w = QTensor::quantize(&Tensor::from_vec(wf, (n, k), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
        let xs: Vec<f32> = (0..m * k).map(|i| if (i / k) == 3 { -2.0 } else { 2.0 }).collect();
        let x = Tensor::from_vec(xs.clone(), (m, k), &Device::Cpu).unwrap();
        let packed = PackedQ8::per_row(&[&w]).unwrap();
        assert!(per_row_bytes(&packed).iter().flatten().all(|&q| q.abs() == 63));
        let ours = matmul(&packed, &x).unwrap().to_vec2::<f32>().unwrap();
        let expected = per_row_reference(&packed, &xs);
        for r in 0..m {
            for c in 0..n {
                let sign = if c % 2 == 0 { 1.0 } else { -1.0 } * if r == 3 { -1.0 } else { 1.0 };
                // 2 · 2048 up to the weights' f16 scale.
                assert!((expected[r * n + c] - sign * 2.0 * k as f64).abs() < 2.0, "[{r}][{c}]");
                let a = ours[r][c] as f64;
                assert!((a - expected[r * n + c]).abs() <= 2.5e-7 * a.abs(), "[{r}][{c}]: {a}");
            }
        }
    }

    #[test]
    fn per_row_weights_are_for_many_rows_and_at_most_2048_inputs() {
        let w = QTensor::quantize(&random(8, 64), GgmlDType::Q8_0).unwrap();
        assert!(PackedQ8::for_rows(&[&w], true).unwrap().rows.is_some());
        assert!(PackedQ8::for_rows(&[&w], false).unwrap().rows.is_none());
        let wide = QTensor::quantize(&random(8, PER_ROW_MAX_K + 32), GgmlDType::Q8_0).unwrap();
        assert!(PackedQ8::for_rows(&[&wide], true).unwrap().rows.is_none());
        assert!(PackedQ8::per_row(&[&wide]).is_err());
    }

    #[test]
    fn bad_weights_are_errors() {
        let q4 = QTensor::quantize(&random(8, 256), GgmlDType::Q4K).unwrap();
        assert!(PackedQ8::new(&[&q4]).is_err());
        let a = QTensor::quantize(&random(8, 64), GgmlDType::Q8_0).unwrap();
        let b = QTensor::quantize(&random(8, 96), GgmlDType::Q8_0).unwrap();
        assert!(PackedQ8::new(&[&a, &b]).is_err());
        if available() {
            let packed = PackedQ8::new(&[&a]).unwrap();
            assert!(matmul(&packed, &random(2, 96)).is_err());
        }
    }
}
