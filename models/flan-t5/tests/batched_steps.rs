//! Decoding steps of several requests run as one batch compute exactly what
//! each request computes alone (the batching in `Engine` relies on it).

mod common;

use flan_t5::{Engine, LoadOptions, Quantization};

/// Greedy continuation of `prompt` for `steps` steps, one request at a time,
/// with the logits of every step.
fn alone(engine: &Engine, prompt: &str, steps: usize) -> Vec<Vec<f32>> {
    let model = engine.model();
    let mut cache = model
        .start_decoding(&model.encode(&engine.encode(prompt).unwrap()).unwrap())
        .unwrap();
    let mut token = engine.config().decoder_start_id();
    (0..steps)
        .map(|_| {
            let logits = model.decode_step(token, &mut cache).unwrap().to_vec1::<f32>().unwrap();
            token = argmax(&logits);
            logits
        })
        .collect()
}

fn argmax(row: &[f32]) -> u32 {
    (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap() as u32
}

/// Runs the prompts' requests batched, request i joining the batch at step
/// `starts[i]` (so the batch mixes positions), and returns each request's logits.
fn batched(engine: &Engine, prompts: &[&str], starts: &[usize], steps: usize) -> Vec<Vec<Vec<f32>>> {
    let model = engine.model();
    let mut caches: Vec<_> = prompts
        .iter()
        .map(|p| {
            model
                .start_decoding(&model.encode(&engine.encode(p).unwrap()).unwrap())
                .unwrap()
        })
        .collect();
    let mut tokens = vec![engine.config().decoder_start_id(); prompts.len()];
    let mut logits = vec![Vec::new(); prompts.len()];
    let mut step = 0;
    while logits.iter().any(|l| l.len() < steps) {
        // Requests that have started and not finished take part in this step.
        let taking: Vec<usize> = (0..prompts.len())
            .filter(|&i| starts[i] <= step && logits[i].len() < steps)
            .collect();
        let step_tokens: Vec<u32> = taking.iter().map(|&i| tokens[i]).collect();
        let mut step_caches: Vec<_> = caches
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| taking.contains(i))
            .map(|(_, c)| c)
            .collect();
        let rows = model
            .decode_steps(&step_tokens, &mut step_caches)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (&i, row) in taking.iter().zip(rows) {
            tokens[i] = argmax(&row);
            logits[i].push(row);
        }
        step += 1;
    }
    logits
}

const PROMPTS: [&str; 3] = [
    "What is the capital of France?",
    "Please explain how rain forms in the sky, and why clouds are white.",
    "Hi",
];

#[test]
fn a_batch_of_requests_at_different_positions_equals_each_alone() {
    let engine = common::engine();
    let steps = 12;
    let together = batched(engine, &PROMPTS, &[0, 3, 5], steps);
    for (i, prompt) in PROMPTS.iter().enumerate() {
        assert_eq!(together[i], alone(engine, prompt, steps), "request {i}: {prompt}");
    }
}

#[test]
fn a_quantized_batch_keeps_each_requests_greedy_tokens() {
    // candle's int8 kernels may take several rows differently from one, so
    // only the choices are compared, not every logit bit.
    let dir = common::fixture_dir();
    let engine = Engine::load_with(
        &dir,
        &LoadOptions {
            quantize: Some(Quantization::Q8_0),
        },
    )
    .unwrap();
    let steps = 8;
    let together = batched(&engine, &PROMPTS, &[0, 0, 2], steps);
    for (i, prompt) in PROMPTS.iter().enumerate() {
        let alone: Vec<u32> = alone(&engine, prompt, steps).iter().map(|l| argmax(l)).collect();
        let batched: Vec<u32> = together[i].iter().map(|l| argmax(l)).collect();
        assert_eq!(batched, alone, "request {i}: {prompt}");
    }
}

#[test]
fn tokens_and_caches_must_pair_up() {
    let engine = common::engine();
    let model = engine.model();
    let mut cache = model.start_decoding(&model.encode(&[5, 6, 1]).unwrap()).unwrap();
    assert!(model.decode_steps(&[0, 0], &mut [&mut cache]).is_err());
    assert!(model.decode_steps(&[], &mut []).is_err());
    // The failed calls left the cache usable.
    assert_eq!(cache.position(), 0);
    assert!(model.decode_step(0, &mut cache).is_ok());
}
