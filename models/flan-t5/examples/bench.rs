//! CPU timings at real Flan-T5 shapes with random weights (the real weights
//! cannot be downloaded everywhere; speed does not depend on their values).
//!
//! ```text
//! bench [small|base ...] [--prompt N] [--steps N] [--quantize q8_0|q4k]
//!     writes a random model per size to a temporary folder, then prints
//!     load time, one encoder pass and greedy decoding speed
//! bench write small|base DIR
//!     writes config.json, tokenizer.json and a random model.safetensors
//!     that transformers loads too (bench/compare.py runs both on it)
//! bench quantize DIR q8_0|q4k
//!     writes DIR/model.<q>.gguf, the build-time conversion Engine::load_with uses
//! bench run DIR [--quantize q8_0|q4k] [--prompt N] [--steps N] [--repeats N]
//!     one measurement in this fresh process, printed as one JSON line
//! bench concurrent DIR [--clients 1,2,4] [--quantize ..] [--prompt N] [--steps N] [--repeats N]
//!     one engine serving that many simultaneous generations through its
//!     API (each encodes its prompt, then decodes --steps tokens, the
//!     clients' decoding steps batched by the engine), the client counts taken in
//!     turn --repeats times; one JSON line per client count and round
//! bench bandwidth [--repeats N]
//!     the machine's read bandwidth: rayon's threads summing 1 GiB of f32, GB/s
//! bench agree DIR --quantize q8_0|q4k [--prompts N] [--steps N]
//!     the quantized path against f32, teacher-forced on f32's greedy tokens
//!     over N fixed prompts: top-1 agreement per step and the largest logit
//!     difference relative to the f32 logits' spread (max - min), as JSON
//! bench reply DIR MESSAGE [--max-new-tokens N]
//!     the greedy reply to a one-message chat, rendered as the inference
//!     function renders it, as JSON {text, prompt_tokens, completion_tokens}
//!     (infra/test-arm64.sh checks the arm64 function binary against it)
//! ```
//!
//! Threads: candle's matmuls use rayon (`RAYON_NUM_THREADS`) and its
//! quantized kernels a pool sized by `CANDLE_NUM_THREADS` (falling back to
//! `RAYON_NUM_THREADS`); both default to the number of physical cores.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use flan_t5::model::parameter_shapes;
use flan_t5::prompt::{render_chat, Turn, DEFAULT_ENCODER_BUDGET};
use flan_t5::{Engine, GenerateOptions, LoadOptions, T5Config};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// (name, d_model, d_ff, layers, heads) of the published checkpoints.
const SIZES: [(&str, usize, usize, usize, usize); 2] = [("small", 512, 1024, 8, 6), ("base", 768, 2048, 12, 12)];

fn config_json(d_model: usize, d_ff: usize, layers: usize, heads: usize) -> String {
    format!(
        r#"{{"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
        "vocab_size": 32128, "d_model": {d_model}, "d_kv": 64, "d_ff": {d_ff},
        "num_layers": {layers}, "num_decoder_layers": {layers}, "num_heads": {heads},
        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false,
        "decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0,
        "layer_norm_epsilon": 1e-6, "dropout_rate": 0.0, "is_encoder_decoder": true}}"#
    )
}

/// Random weights with the checkpoint's names and shapes, scaled like a
/// trained model so activations stay finite.
///
/// Queries get transformers' T5 initialisation, std (d_model·d_kv)^-½: T5
/// does not divide attention scores by √d_kv, so plain 1/√fan_in queries
/// give scores with a standard deviation of 8, a near one-hot softmax, and
/// a model whose output flips under rounding noise. That would make the
/// f32/PyTorch and quantized/f32 agreement figures meaningless.
fn write_random_model(dir: &Path, config: &T5Config) -> Result<()> {
    let mut tensors = HashMap::new();
    for (name, shape) in parameter_shapes(config)? {
        let fan_in = *shape.last().unwrap_or(&1) as f64;
        let mut std = fan_in.powf(-0.5);
        if name.ends_with("Attention.q.weight") {
            std /= (config.d_kv as f64).sqrt();
        }
        let t = if name.ends_with("layer_norm.weight") {
            Tensor::ones(shape, DType::F32, &Device::Cpu)?
        } else {
            Tensor::randn(0f32, std as f32, shape, &Device::Cpu)?
        };
        tensors.insert(name, t);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

/// A complete model folder for size `name` (config, tokenizer, weights).
fn write_model_dir(name: &str, dir: &Path) -> Result<()> {
    let Some(&(_, d, ff, layers, heads)) = SIZES.iter().find(|s| s.0 == name) else {
        bail!("unknown size {name}");
    };
    std::fs::create_dir_all(dir)?;
    let json = config_json(d, ff, layers, heads);
    std::fs::write(dir.join("config.json"), &json)?;
    // Only the model needs the real vocabulary size; the bench feeds ids.
    let tokenizer = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-t5/tokenizer.json");
    std::fs::copy(&tokenizer, dir.join("tokenizer.json"))?;
    write_random_model(dir, &T5Config::from_json(&json)?)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Token ids spread over the vocabulary, ending with </s> (bench/torch_worker.py uses the same).
fn prompt_ids(len: usize) -> Vec<u32> {
    let mut input: Vec<u32> = (0..len as u32 - 1).map(|i| 3 + i * 97 % 32000).collect();
    input.push(1);
    input
}

/// Greedy decoding that never picks ids 0 (pad/start) or 1 (</s>), so every
/// run takes exactly `steps` steps. Returns the tokens and the first logits row.
fn decode(engine: &Engine, encoded: &Tensor, steps: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let model = engine.model();
    let mut cache = model.start_decoding(encoded)?;
    let (mut token, mut tokens, mut first) = (0u32, Vec::with_capacity(steps), Vec::new());
    for _ in 0..steps {
        let logits = model.decode_step(token, &mut cache)?.to_vec1::<f32>()?;
        token = logits
            .iter()
            .enumerate()
            .skip(2)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(2, |(i, _)| i as u32);
        tokens.push(token);
        if first.is_empty() {
            first = logits;
        }
    }
    Ok((tokens, first))
}

struct Args {
    positional: Vec<String>,
    prompt_len: usize,
    steps: usize,
    repeats: usize,
    load: LoadOptions,
    logits_out: Option<String>,
    clients: Vec<usize>,
    max_new_tokens: usize,
    prompts: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        positional: Vec::new(),
        prompt_len: 95,
        steps: 64,
        repeats: 3,
        load: LoadOptions::default(),
        logits_out: None,
        clients: vec![1, 2, 4],
        max_new_tokens: GenerateOptions::default().max_new_tokens,
        prompts: 50,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prompt" => a.prompt_len = args.next().context("--prompt N")?.parse()?,
            "--steps" => a.steps = args.next().context("--steps N")?.parse()?,
            "--repeats" => a.repeats = args.next().context("--repeats N")?.parse()?,
            "--quantize" => a.load = LoadOptions::parse(&args.next().context("--quantize q8_0|q4k|f32")?)?,
            "--logits" => a.logits_out = Some(args.next().context("--logits FILE")?),
            "--clients" => {
                let list = args.next().context("--clients N[,N...]")?;
                a.clients = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--prompts" => a.prompts = args.next().context("--prompts N")?.parse()?,
            "--max-new-tokens" => a.max_new_tokens = args.next().context("--max-new-tokens N")?.parse()?,
            _ => a.positional.push(arg),
        }
    }
    if a.prompt_len < 2 || a.steps == 0 || a.repeats == 0 || a.prompts == 0 || a.clients.contains(&0) {
        bail!("--prompt must be >= 2, --steps, --repeats and --clients >= 1");
    }
    Ok(a)
}

/// `bench run`: what compare.py times in a fresh process. `ready_unix` lets
/// the parent measure load from the moment it spawned us.
fn run(dir: &Path, a: &Args) -> Result<()> {
    let start = Instant::now();
    let engine = Engine::load_with(dir, &a.load)?;
    let load_ms = ms(start);
    let ready_unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let model = engine.model();
    let input = prompt_ids(a.prompt_len);
    decode(&engine, &model.encode(&input)?, 4)?; // warm-up, as for PyTorch
    let (mut encode_ms, mut tok_s, mut result) = (Vec::new(), Vec::new(), None);
    for _ in 0..a.repeats {
        let start = Instant::now();
        let encoded = model.encode(&input)?;
        encode_ms.push(ms(start));
        let start = Instant::now();
        let out = decode(&engine, &encoded, a.steps)?;
        tok_s.push(a.steps as f64 / start.elapsed().as_secs_f64());
        result = Some(out);
    }
    let (tokens, first_logits) = result.expect("repeats >= 1");
    if let Some(path) = &a.logits_out {
        let bytes: Vec<u8> = first_logits.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
    }
    let json = serde_json::json!({
        "impl": match a.load.quantize { None => "candle-f32".to_string(), Some(q) => format!("candle-{q:?}").to_lowercase() },
        "threads": candle_core::utils::get_num_threads(),
        "in_process_load_ms": load_ms,
        "ready_unix": ready_unix,
        "encode_ms": encode_ms,
        "decode_tok_s": tok_s,
        "decode_weight_bytes_per_token": decode_weight_bytes(engine.config(), a.load),
        "tokens": tokens,
    });
    println!("{json}");
    Ok(())
}

/// Bytes of weights one decoding step reads: per decoder layer the
/// self-attention's four projections, the cross-attention's query and output
/// (its keys and values are projected once per request), the three
/// feed-forward matrices; then `lm_head`. The caches (keys and values of
/// earlier steps and of the prompt) add about 1.5 % at 95 prompt tokens and
/// are left out. q8_0 stores 32 weights in 34 bytes; q4k mixes block types
/// and is not counted (None).
fn decode_weight_bytes(c: &T5Config, load: LoadOptions) -> Option<u64> {
    let bytes_per_weight = match load.quantize {
        None => 4.0,
        Some(flan_t5::Quantization::Q8_0) => 34.0 / 32.0,
        Some(flan_t5::Quantization::Q4K) => return None,
    };
    let inner = c.num_heads * c.d_kv;
    let per_layer = 6 * c.d_model * inner + 3 * c.d_model * c.d_ff;
    let layers = c.num_decoder_layers.unwrap_or(c.num_layers);
    let weights = layers * per_layer + c.vocab_size * c.d_model;
    Some((weights as f64 * bytes_per_weight) as u64)
}

/// `bench bandwidth`: how fast rayon's threads can read memory, the
/// ceiling for decoding (which reads every decoder weight once per token).
/// 1 GiB, far beyond any cache; each task sums its chunk in 32 lanes so
/// that the loop vectorises into independent registers and the adds are not
/// what limits it (8 lanes, one SSE dependency chain per 4, measured lower).
fn bandwidth(a: &Args) -> Result<()> {
    use rayon::prelude::*;
    let data = vec![1f32; 256 << 20];
    let mut gb_s = Vec::new();
    for _ in 0..a.repeats.max(3) {
        let start = Instant::now();
        let sum: f32 = data
            .par_chunks(1 << 16)
            .map(|chunk| {
                let mut lanes = [0f32; 32];
                for block in chunk.chunks_exact(32) {
                    for (lane, v) in lanes.iter_mut().zip(block) {
                        *lane += v;
                    }
                }
                lanes.iter().sum::<f32>()
            })
            .sum();
        let seconds = start.elapsed().as_secs_f64();
        if sum <= 0.0 {
            bail!("the sum was optimised away");
        }
        gb_s.push((data.len() * 4) as f64 / seconds / 1e9);
    }
    let json = serde_json::json!({"threads": rayon::current_num_threads(), "read_gb_s": gb_s});
    println!("{json}");
    Ok(())
}

/// Prompt `i` of `bench agree`'s fixed set: 16 to 127 ids, spread over the
/// vocabulary by a different stride per prompt, ending with </s>.
fn agreement_prompt(i: usize) -> Vec<u32> {
    let len = 16 + (i * 37) % 112;
    let stride = 97 + 2 * i as u32;
    let mut ids: Vec<u32> = (0..len as u32 - 1)
        .map(|j| 3 + (j * stride + 11 * i as u32) % 32000)
        .collect();
    ids.push(1);
    ids
}

fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// `bench agree`: f32 decodes each prompt greedily (`decode`'s rule); the
/// quantized model is fed the same tokens (teacher forcing), so every step
/// compares the two models on the same history.
fn agree(dir: &Path, a: &Args) -> Result<()> {
    if a.load.quantize.is_none() {
        bail!("bench agree needs --quantize q8_0|q4k");
    }
    let exact = Engine::load(dir)?;
    let quantized = Engine::load_with(dir, &a.load)?;
    let (mut steps, mut same_top1, mut worst, mut relative) = (0usize, 0usize, 0f64, Vec::new());
    let mut prompts_all_same = 0;
    for i in 0..a.prompts {
        let input = agreement_prompt(i);
        let (exact_model, quantized_model) = (exact.model(), quantized.model());
        let mut exact_cache = exact_model.start_decoding(&exact_model.encode(&input)?)?;
        let mut quantized_cache = quantized_model.start_decoding(&quantized_model.encode(&input)?)?;
        let mut token = 0u32;
        let mut all_same = true;
        for _ in 0..a.steps {
            let e = exact_model.decode_step(token, &mut exact_cache)?.to_vec1::<f32>()?;
            let q = quantized_model
                .decode_step(token, &mut quantized_cache)?
                .to_vec1::<f32>()?;
            let spread =
                e.iter().copied().fold(f32::NEG_INFINITY, f32::max) - e.iter().copied().fold(f32::INFINITY, f32::min);
            let diff = e.iter().zip(&q).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            let rel = f64::from(diff) / f64::from(spread);
            worst = worst.max(rel);
            relative.push(rel);
            steps += 1;
            if argmax(&e) == argmax(&q) {
                same_top1 += 1;
            } else {
                all_same = false;
            }
            // f32's greedy choice, never 0 or 1 (as `decode`), fed to both.
            token = 2 + argmax(&e[2..]) as u32;
        }
        prompts_all_same += usize::from(all_same);
    }
    relative.sort_by(f64::total_cmp);
    let json = serde_json::json!({
        "quantize": a.load.quantize.map(|q| q.name()),
        "prompts": a.prompts,
        "steps": steps,
        "top1_agreement": same_top1 as f64 / steps as f64,
        "prompts_with_every_step_agreeing": prompts_all_same,
        "max_logit_diff_over_spread": worst,
        "median_logit_diff_over_spread": relative[relative.len() / 2],
        "p95_logit_diff_over_spread": relative[relative.len() * 95 / 100],
    });
    println!("{json}");
    Ok(())
}

/// `bench concurrent`: `clients` threads share one engine, as concurrent
/// invocations of one inference container do. Every client encodes the same
/// prompt and decodes the same number of steps; the round's wall time gives
/// the total throughput, each client's own time its latency.
fn concurrent(dir: &Path, a: &Args) -> Result<()> {
    let engine = Engine::load_with(dir, &a.load)?;
    let input = prompt_ids(a.prompt_len);
    decode(&engine, &engine.model().encode(&input)?, 4)?; // warm-up

    // Greedy, and exactly --steps tokens (end-of-sequence is not allowed before).
    let full_length = GenerateOptions {
        max_new_tokens: a.steps,
        min_new_tokens: a.steps,
        ..GenerateOptions::default()
    };
    for round in 0..a.repeats {
        for &clients in &a.clients {
            let start = Instant::now();
            let latencies = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..clients)
                    .map(|_| {
                        scope.spawn(|| -> Result<f64> {
                            let start = Instant::now();
                            // Through the engine, as a request is served: its
                            // decoding steps are batched with the other clients'.
                            engine.generate_ids(&input, &full_length)?;
                            Ok(ms(start))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a client thread panicked"))
                    .collect::<Result<Vec<f64>>>()
            })?;
            let wall_s = start.elapsed().as_secs_f64();
            let json = serde_json::json!({
                "round": round,
                "clients": clients,
                "threads": rayon::current_num_threads(),
                "wall_ms": wall_s * 1e3,
                "total_tok_s": (clients * a.steps) as f64 / wall_s,
                "latency_ms": latencies,
            });
            println!("{json}");
        }
    }
    Ok(())
}

/// `bench reply`: what the inference function answers to a chat of one
/// user message, computed by the engine directly.
fn reply(dir: &Path, message: &str, a: &Args) -> Result<()> {
    let engine = Engine::load_with(dir, &a.load)?;
    let prompt = render_chat(&[Turn::user(message)], DEFAULT_ENCODER_BUDGET, |t| {
        engine.count_tokens(t)
    })?;
    let options = GenerateOptions {
        max_new_tokens: a.max_new_tokens,
        ..GenerateOptions::default()
    };
    let out = engine.generate(&prompt.text, &options)?;
    let json = serde_json::json!({
        "text": out.text.trim(),
        "prompt_tokens": out.prompt_tokens,
        "completion_tokens": out.completion_tokens,
    });
    println!("{json}");
    Ok(())
}

fn main() -> Result<()> {
    let a = parse_args()?;
    match a.positional.first().map(String::as_str) {
        Some("write") => {
            let [_, size, dir] = a.positional.as_slice() else {
                bail!("usage: bench write small|base DIR");
            };
            return write_model_dir(size, Path::new(dir));
        }
        Some("quantize") => {
            let [_, dir, q] = a.positional.as_slice() else {
                bail!("usage: bench quantize DIR q8_0|q4k");
            };
            let q = LoadOptions::parse(q)?.quantize.context("quantize needs q8_0 or q4k")?;
            println!("{}", Engine::write_quantized(Path::new(dir), q)?.display());
            return Ok(());
        }
        Some("run") => {
            let [_, dir] = a.positional.as_slice() else {
                bail!("usage: bench run DIR [options]");
            };
            return run(Path::new(dir), &a);
        }
        Some("concurrent") => {
            let [_, dir] = a.positional.as_slice() else {
                bail!("usage: bench concurrent DIR [options]");
            };
            return concurrent(Path::new(dir), &a);
        }
        Some("bandwidth") => return bandwidth(&a),
        Some("agree") => {
            let [_, dir] = a.positional.as_slice() else {
                bail!("usage: bench agree DIR --quantize q8_0|q4k [--prompts N] [--steps N]");
            };
            return agree(Path::new(dir), &a);
        }
        Some("reply") => {
            let [_, dir, message] = a.positional.as_slice() else {
                bail!("usage: bench reply DIR MESSAGE [--max-new-tokens N]");
            };
            return reply(Path::new(dir), message, &a);
        }
        _ => {}
    }
    let names = if a.positional.is_empty() {
        SIZES.iter().map(|s| s.0.to_string()).collect()
    } else {
        a.positional.clone()
    };
    println!("threads: {}", candle_core::utils::get_num_threads());
    for name in names {
        let dir = std::env::temp_dir().join(format!("flan-t5-bench-{name}-{}", std::process::id()));
        write_model_dir(&name, &dir)?;
        let start = Instant::now();
        let engine = Engine::load_with(&dir, &a.load)?;
        let load_ms = ms(start);
        let input = prompt_ids(a.prompt_len);
        let model = engine.model();
        model.encode(&input)?; // warm-up
        let start = Instant::now();
        let encoded = model.encode(&input)?;
        let encoder_ms = ms(start);
        let start = Instant::now();
        decode(&engine, &encoded, a.steps)?;
        let decode_s = start.elapsed().as_secs_f64();
        println!(
            "{name}: load {load_ms:.0} ms, encoder ({} tokens) {encoder_ms:.0} ms, \
             decode {} steps {:.1} tok/s ({:.1} ms/token)",
            a.prompt_len,
            a.steps,
            a.steps as f64 / decode_s,
            decode_s * 1e3 / a.steps as f64
        );
        drop(engine);
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
