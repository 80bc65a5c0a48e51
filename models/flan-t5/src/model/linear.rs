//! Bias-free projections, kept in f32 or quantized to candle's ggml formats.
//!
//! Decoding one token reads every weight once per step, so it is bound by
//! memory bandwidth: 8-bit weights move a quarter of the bytes of f32 ones.
//! candle's x86 kernels also multiply the quantized weights with int8
//! activations (VNNI), which speeds up the encoder's larger matmuls.

use super::int8::{self, PackedQ8};
use super::product::{self, Orientation};
use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Weight formats a model can be loaded in besides f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantization {
    /// 8-bit weights with one f16 scale per 32 (8.5 bits a weight). Logits
    /// move by a few percent of their range, enough to change some greedy
    /// tokens (BENCHMARKS.md has the measured agreement).
    Q8_0,
    /// 4-bit k-quants (4.5 bits a weight); smaller and faster still, less
    /// exact. Matrices whose input width is not a multiple of 256 (e.g. the
    /// attention output of flan-t5-small, 384 wide) fall back to Q8_0.
    Q4K,
}

impl Quantization {
    /// Name used in file names and `FLAN_T5_QUANTIZE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Q8_0 => "q8_0",
            Self::Q4K => "q4k",
        }
    }

    fn ggml(self) -> GgmlDType {
        match self {
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4K => GgmlDType::Q4K,
        }
    }
}

/// A quantized weight with its checkpoint name.
type Named = (String, Arc<QTensor>);

/// How projections are built: kept in f32, quantized while loading, or
/// read already quantized from a GGUF file written at build time (which
/// saves the conversion, 0.6–10 s for small/base on two cores, on every
/// cold start).
#[derive(Debug, Default)]
pub struct ProjLoader {
    quantize: Option<Quantization>,
    prequantized: Option<Prequantized>,
    /// Collects every quantized weight by name, for writing the GGUF file.
    record: Option<Mutex<Vec<Named>>>,
}

#[derive(Debug)]
struct Prequantized {
    content: gguf_file::Content,
    file: Mutex<File>,
}

impl ProjLoader {
    pub fn new(quantize: Option<Quantization>) -> Self {
        Self {
            quantize,
            ..Self::default()
        }
    }

    /// Takes quantized projections from the GGUF file at `path` (as written
    /// by [`ProjLoader::write_gguf`]); projections it lacks are converted as usual.
    pub fn with_prequantized(quantize: Quantization, path: &Path) -> Result<Self> {
        let mut file = File::open(path)?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| e.with_path(path))?;
        Ok(Self {
            quantize: Some(quantize),
            prequantized: Some(Prequantized {
                content,
                file: Mutex::new(file),
            }),
            record: None,
        })
    }

    /// A loader that remembers what it quantizes, for [`ProjLoader::write_gguf`].
    pub fn recording(quantize: Quantization) -> Self {
        Self {
            quantize: Some(quantize),
            prequantized: None,
            record: Some(Mutex::new(Vec::new())),
        }
    }

    /// Writes the weights a recording loader quantized to `path` as GGUF.
    pub fn write_gguf(&self, path: &Path) -> Result<()> {
        let Some(record) = &self.record else {
            candle_core::bail!("write_gguf needs a recording loader");
        };
        let record = record.lock().expect("record lock");
        let tensors: Vec<(&str, &QTensor)> = record.iter().map(|(n, t)| (n.as_str(), t.as_ref())).collect();
        let mut out = std::io::BufWriter::new(File::create(path)?);
        gguf_file::write(&mut out, &[], &tensors)?;
        out.flush()?;
        Ok(())
    }

    fn read_prequantized(&self, name: &str, shape: (usize, usize)) -> Result<Option<QTensor>> {
        let Some(pre) = &self.prequantized else {
            return Ok(None);
        };
        if !pre.content.tensor_infos.contains_key(name) {
            return Ok(None);
        }
        let mut file = pre.file.lock().expect("gguf file lock");
        let tensor = pre.content.tensor(&mut *file, name, &Device::Cpu)?;
        if tensor.shape().dims2()? != shape {
            candle_core::bail!(
                "{name} has shape {:?} in the GGUF file, expected {shape:?}",
                tensor.shape()
            );
        }
        Ok(Some(tensor))
    }
}

/// How many rows a projection multiplies per call, which decides how its
/// f32 weight is kept (see [`Orientation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// A whole prompt at once: the encoder, and the cross-attention keys and
    /// values of the encoder output.
    Many,
    /// One per decoding step.
    One,
}

/// A weight as read: f32, or quantized.
enum Loaded {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
}

/// `y = x Wᵀ` for a weight stored as (out, in), like `nn.Linear(bias=False)`.
#[derive(Debug, Clone)]
pub enum Proj {
    Dense {
        weight: Tensor,
        orientation: Orientation,
    },
    Quantized(QMatMul),
    /// A quantized weight multiplied one row at a time (a decoding step),
    /// cut into blocks of output rows that the pool multiplies side by side
    /// (see [`split_by_output_rows`]).
    QuantizedBlocks(Vec<QMatMul>),
    /// A q8_0 weight repacked for the AVX2 int8 kernel ([`int8`]).
    Int8(Arc<PackedQ8>),
}

/// Whether a q8_0 weight multiplying `rows` rows per call goes to the
/// AVX2 kernel of [`int8`] rather than to candle: on x86-64 with AVX2,
/// except prompts where candle has its AVX-512 VNNI tiles.
fn takes_int8(dtype: GgmlDType, rows: Rows) -> bool {
    dtype == GgmlDType::Q8_0 && int8::available() && (rows == Rows::One || !int8::candle_has_vnni_tiles())
}

impl Proj {
    /// Reads `{vb}.weight` of shape (out, in) in the form `loader` asks for,
    /// laid out for multiplying `rows` rows per call.
    pub fn new(d_in: usize, d_out: usize, rows: Rows, loader: &ProjLoader, vb: VarBuilder) -> Result<Self> {
        match Self::load(d_in, d_out, loader, vb)? {
            Loaded::Quantized(q) => Self::quantized(q, rows, true),
            Loaded::Dense(weight) => Self::dense(weight, rows),
        }
    }

    /// As [`Proj::new`], but a q8_0 weight multiplying many rows keeps one
    /// scale per 32 inputs on both sides instead of taking the per-row int8
    /// layout ([`PackedQ8::for_rows`]): for the feed-forward's output, whose
    /// input (the gated activation) has outlier channels that one scale per
    /// row quantizes coarsely. At flan-t5-base: top-1 agreement with f32
    /// 77.7 % this way, 74.3 % per row, for ~5 % of the encoder's time
    /// (BENCHMARKS.md, "Flan-T5 int8: encoder and decode bandwidth").
    pub fn new_block_scaled(
        d_in: usize,
        d_out: usize,
        rows: Rows,
        loader: &ProjLoader,
        vb: VarBuilder,
    ) -> Result<Self> {
        match Self::load(d_in, d_out, loader, vb)? {
            Loaded::Quantized(q) => Self::quantized(q, rows, false),
            Loaded::Dense(weight) => Self::dense(weight, rows),
        }
    }

    /// `{vb}.weight` (out, in), quantized when `loader` asks for it and a
    /// ggml block fits its width.
    fn load(d_in: usize, d_out: usize, loader: &ProjLoader, vb: VarBuilder) -> Result<Loaded> {
        let name = format!("{}.weight", vb.prefix());
        if let Some(q) = loader.read_prequantized(&name, (d_out, d_in))? {
            return Ok(Loaded::Quantized(Arc::new(q)));
        }
        let weight = vb.get((d_out, d_in), "weight")?;
        let Some(q) = loader.quantize else {
            return Ok(Loaded::Dense(weight));
        };
        let dtype = [q.ggml(), GgmlDType::Q8_0]
            .into_iter()
            .find(|d| d_in.is_multiple_of(d.block_size()));
        let Some(dtype) = dtype else {
            // No ggml block fits this width; exactness over speed.
            return Ok(Loaded::Dense(weight));
        };
        let q = Arc::new(QTensor::quantize(&weight, dtype)?);
        if let Some(record) = &loader.record {
            record.lock().expect("record lock").push((name, q.clone()));
        }
        Ok(Loaded::Quantized(q))
    }

    /// `per_row`: whether a weight multiplying many rows may take the
    /// per-row int8 layout.
    fn quantized(q: Arc<QTensor>, rows: Rows, per_row: bool) -> Result<Self> {
        if takes_int8(q.dtype(), rows) {
            return Ok(Self::Int8(Arc::new(PackedQ8::for_rows(
                &[&q],
                per_row && rows == Rows::Many,
            )?)));
        }
        Ok(match rows {
            Rows::Many => Self::Quantized(QMatMul::from_arc(q)?),
            // One block per thread: every block's call quantizes the input
            // row again and allocates its output, so at four blocks per
            // thread (as the f32 products use) that overhead ate the gain.
            Rows::One => match split_by_output_rows(&q, rayon::current_num_threads())? {
                Some(blocks) => Self::QuantizedBlocks(
                    blocks
                        .into_iter()
                        .map(QMatMul::from_qtensor)
                        .collect::<Result<Vec<_>>>()?,
                ),
                None => Self::Quantized(QMatMul::from_arc(q)?),
            },
        })
    }

    /// An f32 weight (out, in), turned around when many rows multiply it.
    fn dense(weight: Tensor, rows: Rows) -> Result<Self> {
        Ok(match rows {
            Rows::Many => Self::Dense {
                weight: product::transpose(&weight)?,
                orientation: Orientation::InOut,
            },
            Rows::One => Self::Dense {
                weight,
                orientation: Orientation::OutIn,
            },
        })
    }
}

impl Module for Proj {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense { weight, orientation } => {
                // Leading dimensions fold into rows: one 2-D product.
                let dims = x.dims();
                let (rows, d_in) = (dims[..dims.len() - 1].iter().product::<usize>(), dims[dims.len() - 1]);
                let y = product::multiply(&x.reshape((rows, d_in))?, weight, *orientation)?;
                let mut out_dims = dims.to_vec();
                *out_dims.last_mut().expect("rank >= 1") = y.dim(1)?;
                y.reshape(out_dims)
            }
            Self::Quantized(q) => quantized_rows(q, x),
            Self::Int8(w) => int8::matmul(w, &x.contiguous()?),
            Self::QuantizedBlocks(blocks) => {
                let x = x.contiguous()?;
                let outputs = blocks
                    .par_iter()
                    .map(|block| block.forward(&x))
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(&outputs, candle_core::D::Minus1)
            }
        }
    }
}

/// Fewest output rows in a block of a split quantized weight: a 768-wide
/// q8_0 row is 816 bytes, so a block streams at least ~50 KiB.
const MIN_QUANTIZED_BLOCK_ROWS: usize = 64;

/// Rows of a split quantized weight's block come in whole groups of this many.
const ROW_GROUP: usize = 32;

/// `q` (out, in) as up to `blocks` weights of whole output rows, in order,
/// or `None` when it stays in one piece (one thread, or too few rows to cut).
///
/// candle multiplies a quantized weight on its own barrier pool, which runs
/// at one thread here (see [`quantized_rows`]), so a decoding step streamed
/// its int8 weights from one core; split in two, q8_0 decoding went from
/// about 530 to 630 tokens/s at the small shape (BENCHMARKS.md, "int8 on
/// both cores"). The ggml formats quantize each row on its own (blocks run
/// along the input), so a run of rows is a run of bytes and each block
/// computes exactly the outputs the whole weight would.
fn split_by_output_rows(q: &QTensor, blocks: usize) -> Result<Option<Vec<QTensor>>> {
    let (d_out, d_in) = q.shape().dims2()?;
    let data = q.data()?;
    if d_out == 0 || data.len() % d_out != 0 {
        candle_core::bail!("a quantized ({d_out}, {d_in}) weight of {} bytes", data.len());
    }
    let row_bytes = data.len() / d_out;
    // candle picks its kernel by the number of rows: x86's repacked tiles
    // need a multiple of 16, arm64's take rows in pairs. Blocks of whole
    // ROW_GROUPs out of a weight of whole ROW_GROUPs take the kernel the
    // whole weight takes; another cut gave outputs that differ by the
    // quantization error, so such a weight stays in one piece.
    let blocks = if d_out.is_multiple_of(ROW_GROUP) {
        blocks.max(1)
    } else {
        1
    };
    let rows_per_block = d_out
        .div_ceil(blocks)
        .max(MIN_QUANTIZED_BLOCK_ROWS)
        .next_multiple_of(ROW_GROUP);
    if rows_per_block >= d_out {
        return Ok(None);
    }
    data.chunks(rows_per_block * row_bytes)
        .map(|bytes| {
            let storage = QStorage::from_data(Cow::Owned(bytes.to_vec()), &Device::Cpu, q.dtype())?;
            QTensor::new(storage, (bytes.len() / row_bytes, d_in))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Several projections of the same input (attention's q, k and v; the
/// gated feed-forward's two input matrices), computed as one product whose
/// output holds theirs side by side, in the order given.
///
/// Dense weights are joined into one matrix at load, so that one pass over
/// the thread pool computes them all: each hand-over costs a few microseconds
/// and a flan-t5-base decoding step streams a 768×768 weight in about 30:
/// joined, decoding streamed the weights 4–8 % faster, the encoder was
/// unchanged (BENCHMARKS.md, "Joined projections"). Each output is still a dot product
/// over the same input row, so joining does not change what is computed.
/// Quantized weights stay separate (their files name each matrix) and their
/// outputs are joined after.
#[derive(Debug, Clone)]
pub enum Joined {
    One(Proj),
    Separate(Vec<Proj>),
}

impl Joined {
    /// Reads `{part}.weight` of shape (width, d_in) for each `(width, part)`.
    pub fn new(d_in: usize, parts: &[(usize, VarBuilder)], rows: Rows, loader: &ProjLoader) -> Result<Self> {
        if loader.quantize.is_some() {
            let loaded = parts
                .iter()
                .map(|(width, vb)| Proj::load(d_in, *width, loader, vb.clone()))
                .collect::<Result<Vec<_>>>()?;
            let int8_parts: Vec<&QTensor> = loaded
                .iter()
                .filter_map(|l| match l {
                    Loaded::Quantized(q) if takes_int8(q.dtype(), rows) => Some(q.as_ref()),
                    _ => None,
                })
                .collect();
            if int8_parts.len() == loaded.len() {
                // One repacked weight: the input is quantized once and every
                // part's rows are streamed in one pass over the pool.
                return Ok(Self::One(Proj::Int8(Arc::new(PackedQ8::for_rows(
                    &int8_parts,
                    rows == Rows::Many,
                )?))));
            }
            return loaded
                .into_iter()
                .map(|l| match l {
                    Loaded::Quantized(q) => Proj::quantized(q, rows, true),
                    Loaded::Dense(weight) => Proj::dense(weight, rows),
                })
                .collect::<Result<Vec<_>>>()
                .map(Self::Separate);
        }
        let weights = parts
            .iter()
            .map(|(width, vb)| vb.get((*width, d_in), "weight"))
            .collect::<Result<Vec<_>>>()?;
        if !weights.iter().all(|w| product::is_cpu_f32(w) && w.is_contiguous()) {
            // A placeholder that only lists shapes (or another device): joining
            // would allocate the real matrices for nothing.
            return weights
                .into_iter()
                .map(|w| Proj::dense(w, rows))
                .collect::<Result<Vec<_>>>()
                .map(Self::Separate);
        }
        Ok(Self::One(Proj::dense(Tensor::cat(&weights, 0)?, rows)?))
    }
}

impl Module for Joined {
    /// (…, d_in) → (…, Σ widths).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::One(proj) => proj.forward(x),
            Self::Separate(projs) => {
                let outputs = projs.iter().map(|p| p.forward(x)).collect::<Result<Vec<_>>>()?;
                Tensor::cat(&outputs, candle_core::D::Minus1)
            }
        }
    }
}

/// Fewest input rows per task worth splitting a quantized product for.
const MIN_QUANTIZED_ROWS_PER_TASK: usize = 8;

/// A quantized product over many rows (the encoder, the cross-attention
/// projections), split by rows over the rayon pool.
///
/// candle runs its quantized kernels on a spinning barrier pool
/// (`CANDLE_NUM_THREADS`) that stalls whenever one of its threads loses its
/// core to another process, which on a shared two-core machine made
/// quantized decoding 5–10× slower; with that pool at one thread the work
/// is spread here instead, by rayon's work stealing. Each row's activations
/// are quantized and multiplied independently, so the split does not change
/// the numbers.
fn quantized_rows(q: &QMatMul, x: &Tensor) -> Result<Tensor> {
    // The quantized kernels need a contiguous input.
    let x = x.contiguous()?;
    let dims = x.dims().to_vec();
    let d_in = dims[dims.len() - 1];
    let rows = x.elem_count() / d_in.max(1);
    let tasks = rayon::current_num_threads().min(rows / MIN_QUANTIZED_ROWS_PER_TASK);
    if tasks <= 1 {
        return q.forward(&x);
    }
    let x = x.reshape((rows, d_in))?;
    let block = rows.div_ceil(tasks);
    let parts = (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|i| {
            let start = i * block;
            q.forward(&x.narrow(0, start, block.min(rows - start))?)
        })
        .collect::<Result<Vec<_>>>()?;
    let y = Tensor::cat(&parts, 0)?;
    let mut out_dims = dims;
    *out_dims.last_mut().expect("rank >= 1") = y.dim(1)?;
    y.reshape(out_dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(shape: (usize, usize)) -> Tensor {
        Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
    }

    /// A VarBuilder holding `parts` as `p{i}.weight`.
    fn weights(parts: &[Tensor]) -> VarBuilder<'static> {
        let map = parts
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("p{i}.weight"), w.clone()))
            .collect();
        VarBuilder::from_tensors(map, candle_core::DType::F32, &Device::Cpu)
    }

    #[test]
    fn a_joined_projection_equals_its_parts_side_by_side() {
        let parts = [random((96, 64)), random((40, 64)), random((96, 64))];
        let vb = weights(&parts);
        let named: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(i, w)| (w.dim(0).unwrap(), vb.pp(format!("p{i}"))))
            .collect();
        for (rows, n) in [(Rows::One, 1), (Rows::Many, 37)] {
            let x = random((n, 64));
            // Dense: each part's product, to rounding.
            let joined = Joined::new(64, &named, rows, &ProjLoader::new(None)).unwrap();
            assert!(matches!(joined, Joined::One(_)), "dense weights are joined");
            let ours = joined.forward(&x).unwrap().to_vec2::<f32>().unwrap();
            let mut column = 0;
            for w in &parts {
                let expected = x.matmul(&w.t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
                for (r, expected) in expected.iter().enumerate() {
                    for (c, b) in expected.iter().enumerate() {
                        let a = ours[r][column + c];
                        assert!(
                            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                            "{rows:?} [{r}][{}]: {a} vs {b}",
                            column + c
                        );
                    }
                }
                column += w.dim(0).unwrap();
            }
            assert_eq!((ours.len(), ours[0].len()), (n, column));
            // Quantized: kept apart, and their outputs side by side in order.
            let loader = ProjLoader::new(Some(Quantization::Q8_0));
            let joined = Joined::new(64, &named, rows, &loader).unwrap();
            if takes_int8(GgmlDType::Q8_0, rows) {
                assert!(
                    matches!(joined, Joined::One(Proj::Int8(_))),
                    "q8_0 weights for the int8 kernel are joined"
                );
            } else {
                assert!(
                    matches!(joined, Joined::Separate(_)),
                    "quantized weights for candle are kept apart"
                );
            }
            let each: Vec<Tensor> = named
                .iter()
                .map(|(width, vb)| {
                    Proj::new(64, *width, rows, &loader, vb.clone())
                        .unwrap()
                        .forward(&x)
                        .unwrap()
                })
                .collect();
            assert_eq!(
                joined.forward(&x).unwrap().to_vec2::<f32>().unwrap(),
                Tensor::cat(&each, 1).unwrap().to_vec2::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn parts_of_different_input_widths_are_an_error() {
        let vb = weights(&[random((8, 16)), random((8, 12))]);
        let named = [(8, vb.pp("p0")), (8, vb.pp("p1"))];
        assert!(Joined::new(16, &named, Rows::Many, &ProjLoader::new(None)).is_err());
    }

    #[test]
    fn a_weight_split_by_output_rows_gives_the_whole_weights_outputs() {
        // Blocks that divide the rows evenly, one left short, and weights
        // kept whole: rows not in whole groups, or too few to split.
        for (d_out, blocks, expected_blocks) in [(256, 4, 4), (320, 3, 3), (200, 3, 1), (40, 8, 1)] {
            for dtype in [GgmlDType::Q8_0, GgmlDType::Q4K] {
                let w = random((d_out, 256));
                let whole = QTensor::quantize(&w, dtype).unwrap();
                let Some(parts) = split_by_output_rows(&whole, blocks).unwrap() else {
                    assert_eq!(expected_blocks, 1, "{dtype:?}: {d_out} rows kept whole");
                    let proj = Proj::quantized(Arc::new(whole), Rows::One, true).unwrap();
                    if takes_int8(dtype, Rows::One) {
                        assert!(matches!(proj, Proj::Int8(_)), "q8_0 goes to the int8 kernel");
                    } else {
                        assert!(
                            matches!(proj, Proj::Quantized(_)),
                            "a weight in one piece is not wrapped"
                        );
                    }
                    continue;
                };
                let rows: Vec<usize> = parts.iter().map(|p| p.shape().dims2().unwrap().0).collect();
                assert_eq!(rows.iter().sum::<usize>(), d_out, "{dtype:?}: every row in one block");
                assert_eq!(
                    parts.len(),
                    expected_blocks,
                    "{dtype:?}: {d_out} rows in {blocks} blocks"
                );
                assert!(parts.iter().all(|p| p.dtype() == dtype));
                let x = random((1, 256));
                let expected = QMatMul::from_qtensor(whole).unwrap().forward(&x).unwrap();
                let split =
                    Proj::QuantizedBlocks(parts.into_iter().map(|p| QMatMul::from_qtensor(p).unwrap()).collect());
                assert_eq!(
                    split.forward(&x).unwrap().to_vec2::<f32>().unwrap(),
                    expected.to_vec2::<f32>().unwrap(),
                    "{dtype:?}, {d_out} rows in {blocks} blocks"
                );
            }
        }
    }

    #[test]
    fn split_quantized_product_equals_one_call() {
        let (x, w) = (random((40, 512)), random((384, 512)));
        let q = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap()).unwrap();
        let split = quantized_rows(&q, &x).unwrap().to_vec2::<f32>().unwrap();
        let whole = q.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(split, whole);
    }
}
