//! How far the opt-in quantized weights move the model from the exact f32
//! path, measured on the golden prompts (whose f32 outputs match
//! transformers, see golden.rs). Run with `--nocapture` to see the figures
//! quoted in BENCHMARKS.md. The fixture's widths (32, 64) are not multiples
//! of Q4K's 256-wide blocks, so its Q4K run falls back to Q8_0 throughout;
//! the real-shape figures for Q4K come from bench/compare.py.

mod common;

use flan_t5::{Engine, GenerateOptions, LoadOptions, Quantization};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    tie_word_embeddings: bool,
    input_ids: Vec<u32>,
    output_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn golden() -> Golden {
    let text = std::fs::read_to_string(common::fixture_dir().join("golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn load_options_parse_the_documented_values() {
    assert_eq!(LoadOptions::parse("").unwrap().quantize, None);
    assert_eq!(LoadOptions::parse("f32").unwrap().quantize, None);
    assert_eq!(LoadOptions::parse("Q8_0").unwrap().quantize, Some(Quantization::Q8_0));
    assert_eq!(LoadOptions::parse("q4k").unwrap().quantize, Some(Quantization::Q4K));
    assert!(LoadOptions::parse("int3").is_err());
}

#[test]
fn quantized_greedy_tokens_stay_close_to_transformers() {
    for quantize in [Quantization::Q8_0, Quantization::Q4K] {
        let engine = Engine::load_with(
            &common::fixture_dir(),
            &LoadOptions {
                quantize: Some(quantize),
            },
        )
        .unwrap();
        for case in golden().cases.iter().filter(|c| !c.tie_word_embeddings) {
            let steps = case.output_ids.len();
            let opts = GenerateOptions {
                max_new_tokens: steps,
                min_new_tokens: steps,
                ..GenerateOptions::default()
            };
            let trace = engine.generate_with_logits(&case.input_ids, &opts).unwrap();
            let same = trace
                .tokens
                .iter()
                .zip(&case.output_ids)
                .take_while(|(a, b)| a == b)
                .count();
            // Logits are only comparable while both runs saw the same prefix.
            let compared = (same + 1).min(steps);
            let worst = trace.logits[..compared]
                .iter()
                .zip(&case.logits)
                .flat_map(|(ours, theirs)| ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()))
                .fold(0f32, f32::max);
            println!(
                "{quantize:?} {}: {same}/{steps} greedy tokens equal to f32, \
                 max |logit diff| over the first {compared} steps = {worst:.2e}",
                case.name
            );
            // Figures, not a gate: only a broken conversion moves the first token.
            assert_eq!(trace.tokens[0], case.output_ids[0], "{quantize:?} {}", case.name);
            assert!(worst.is_finite());
        }
    }
}

#[test]
fn a_build_time_quantized_file_loads_the_same_model() {
    let dir = common::variant(|_| {}, &common::fixture_weights());
    let options = LoadOptions {
        quantize: Some(Quantization::Q8_0),
    };
    let converted_at_load = Engine::load_with(dir.path(), &options).unwrap();
    let path = Engine::write_quantized(dir.path(), Quantization::Q8_0).unwrap();
    assert!(path.ends_with("model.q8_0.gguf"));
    let prequantized = Engine::load_with(dir.path(), &options).unwrap();
    let case = &golden().cases[0];
    let opts = GenerateOptions {
        max_new_tokens: 16,
        min_new_tokens: 16,
        ..GenerateOptions::default()
    };
    assert_eq!(
        prequantized.generate_with_logits(&case.input_ids, &opts).unwrap(),
        converted_at_load.generate_with_logits(&case.input_ids, &opts).unwrap()
    );
    // The exact path ignores the file.
    let exact = Engine::load(dir.path()).unwrap();
    assert_eq!(
        exact.generate_with_logits(&case.input_ids, &opts).unwrap(),
        common::engine().generate_with_logits(&case.input_ids, &opts).unwrap()
    );
}
