//! Behaviour of the public engine API on the tiny fixture model.

mod common;

use candle_core::{DType, Device, Tensor};
use flan_t5::{Engine, Error, FinishReason, GenerateOptions};

const PROMPT: &str = "What is the capital of France?";
const OTHER_PROMPT: &str = "Please explain how rain forms in the sky.";

fn opts(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        ..GenerateOptions::default()
    }
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
fn engine_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn greedy_output_is_deterministic() {
    let engine = common::engine();
    let first = engine.generate(PROMPT, &opts(20)).unwrap();
    let second = engine.generate(PROMPT, &opts(20)).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.prompt_tokens, engine.count_tokens(PROMPT));
    assert_eq!(first.completion_tokens, 20);
    assert!(!first.text.is_empty());
    let ids = engine.generate_ids(&engine.encode(PROMPT).unwrap(), &opts(20)).unwrap();
    assert_eq!(engine.decode(&ids).unwrap(), first.text);
    // The fixture's greedy continuation (also pinned by the golden test).
    assert_eq!(&ids[..8], &[131, 131, 131, 131, 169, 103, 16, 65]);
}

#[test]
fn stops_at_max_new_tokens() {
    let engine = common::engine();
    let out = engine.generate(OTHER_PROMPT, &opts(7)).unwrap();
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(out.completion_tokens, 7);
    let none = engine.generate(OTHER_PROMPT, &opts(0)).unwrap();
    assert_eq!((none.completion_tokens, none.text.as_str()), (0, ""));
}

/// The fixture with the end-of-sequence row of lm_head replaced by a scaled
/// copy of the row of a token greedy decoding emits a few steps in, so that
/// end-of-sequence wins once the model would have produced that token.
fn model_that_ends() -> (tempfile::TempDir, Engine) {
    let engine = common::engine();
    let ids = engine.generate_ids(&engine.encode(PROMPT).unwrap(), &opts(20)).unwrap();
    let target = ids[5] as usize;
    let mut weights = common::fixture_weights();
    let head = weights["lm_head.weight"].clone();
    let eos = engine.config().eos_token_id as usize;
    let mut rows: Vec<Tensor> = (0..head.dim(0).unwrap()).map(|i| head.get(i).unwrap()).collect();
    rows[eos] = (head.get(target).unwrap() * 1.5).unwrap();
    weights.insert("lm_head.weight".into(), Tensor::stack(&rows, 0).unwrap());
    let dir = common::variant(|_| {}, &weights);
    let engine = Engine::load(dir.path()).unwrap();
    (dir, engine)
}

#[test]
fn stops_exactly_when_end_of_sequence_is_chosen() {
    let (_dir, engine) = model_that_ends();
    let eos = engine.config().eos_token_id;
    let input = engine.encode(PROMPT).unwrap();
    let trace = engine.generate_with_logits(&input, &opts(64)).unwrap();
    assert_eq!(trace.finish_reason, FinishReason::Stop);
    assert!(!trace.tokens.is_empty(), "should stop after some tokens, not at once");
    assert_eq!(trace.logits.len(), trace.tokens.len() + 1);
    assert_eq!(argmax(trace.logits.last().unwrap()), eos);
    for (row, &token) in trace.logits.iter().zip(&trace.tokens) {
        assert_ne!(argmax(row), eos);
        assert_eq!(argmax(row), token);
    }
    assert!(!trace.tokens.contains(&eos));

    let out = engine.generate(PROMPT, &opts(64)).unwrap();
    assert_eq!(out.finish_reason, FinishReason::Stop);
    assert_eq!(out.completion_tokens, trace.tokens.len());
}

#[test]
fn min_new_tokens_postpones_end_of_sequence() {
    let (_dir, engine) = model_that_ends();
    let natural = engine.generate(PROMPT, &opts(64)).unwrap().completion_tokens;
    let forced = GenerateOptions {
        min_new_tokens: natural + 3,
        ..opts(64)
    };
    let out = engine.generate(PROMPT, &forced).unwrap();
    assert!(out.completion_tokens >= natural + 3);
}

#[test]
fn a_reused_engine_answers_like_a_fresh_one() {
    let shared = common::engine();
    let warm_first = shared.generate(PROMPT, &opts(24)).unwrap();
    let warm_second = shared.generate(OTHER_PROMPT, &opts(24)).unwrap();
    let fresh = Engine::load(&common::fixture_dir()).unwrap();
    assert_eq!(fresh.generate(OTHER_PROMPT, &opts(24)).unwrap(), warm_second);
    let fresh = Engine::load(&common::fixture_dir()).unwrap();
    assert_eq!(fresh.generate(PROMPT, &opts(24)).unwrap(), warm_first);
    // And again on the warm engine, in the other order.
    assert_eq!(shared.generate(PROMPT, &opts(24)).unwrap(), warm_first);
}

#[test]
fn concurrent_requests_match_sequential_ones() {
    let engine = common::engine();
    let expected: Vec<_> = [PROMPT, OTHER_PROMPT]
        .iter()
        .map(|p| engine.generate(p, &opts(16)).unwrap())
        .collect();
    let got: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = [PROMPT, OTHER_PROMPT]
            .iter()
            .map(|p| s.spawn(move || engine.generate(p, &opts(16)).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(got, expected);
}

#[test]
fn concurrent_requests_of_every_kind_match_sequential_ones() {
    // Their decoding steps run in shared batches: requests of different
    // lengths, one cancelled early, one streaming to a slow reader (slower
    // than the batcher waits for a step) must each get what they get alone.
    let engine = common::engine();
    let third = "Breakfast: eggs, toast, juice";
    let expected = [
        engine.generate(PROMPT, &opts(20)).unwrap(),
        engine.generate(OTHER_PROMPT, &opts(6)).unwrap(),
        engine.generate(third, &opts(12)).unwrap(),
    ];
    let cancelled_alone = engine.generate_stream(OTHER_PROMPT, &opts(20), |_| false).unwrap();
    let start = std::sync::Barrier::new(4);
    let (got, streamed, cancelled) = std::thread::scope(|s| {
        let start = &start;
        let plain: Vec<_> = [(PROMPT, 20), (OTHER_PROMPT, 6)]
            .into_iter()
            .map(|(p, n)| {
                s.spawn(move || {
                    start.wait();
                    engine.generate(p, &opts(n)).unwrap()
                })
            })
            .collect();
        let slow = s.spawn(move || {
            start.wait();
            engine
                .generate_stream(third, &opts(12), |_| {
                    std::thread::sleep(std::time::Duration::from_millis(3));
                    true
                })
                .unwrap()
        });
        let cancelled = s.spawn(move || {
            start.wait();
            engine.generate_stream(OTHER_PROMPT, &opts(20), |_| false).unwrap()
        });
        let got: Vec<_> = plain.into_iter().map(|h| h.join().unwrap()).collect();
        (got, slow.join().unwrap(), cancelled.join().unwrap())
    });
    assert_eq!(got, expected[..2]);
    assert_eq!(streamed, expected[2]);
    assert_eq!(cancelled, cancelled_alone);
    assert_eq!(cancelled.finish_reason, FinishReason::Cancelled);
}

#[test]
fn streamed_pieces_add_up_to_the_reply() {
    let engine = common::engine();
    for prompt in [PROMPT, OTHER_PROMPT, "Breakfast: eggs, toast, juice"] {
        let mut pieces = Vec::new();
        let streamed = engine
            .generate_stream(prompt, &opts(30), |piece| {
                pieces.push(piece.to_string());
                true
            })
            .unwrap();
        assert_eq!(streamed, engine.generate(prompt, &opts(30)).unwrap());
        assert_eq!(pieces.concat(), streamed.text);
        assert!(pieces.len() > 1, "expected incremental output for {prompt:?}");
        assert!(pieces.iter().all(|p| !p.is_empty()));
    }
}

#[test]
fn streaming_stops_when_the_callback_says_so() {
    let engine = common::engine();
    let mut calls = 0;
    let out = engine
        .generate_stream(PROMPT, &opts(30), |_| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
    assert_eq!(calls, 1);
    assert!(out.completion_tokens < 30);
}

#[test]
fn a_stop_check_ends_generation_within_one_step() {
    use std::cell::Cell;
    let engine = common::engine();
    // Greedy on the fixture runs the full 20 steps (greedy_output_is_deterministic).
    for steps in [0usize, 1, 5] {
        let asked = Cell::new(0usize);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > steps
        };
        let out = engine.generate_until(PROMPT, &opts(20), stop).unwrap();
        assert_eq!(out.finish_reason, FinishReason::Cancelled, "after {steps}");
        assert_eq!(out.completion_tokens, steps, "no step after the stop");
        // What was made is the start of the reply an unstopped run gives.
        let whole = engine.generate(PROMPT, &opts(steps.max(1))).unwrap();
        if steps > 0 {
            assert_eq!(out.text, whole.text);
        }
    }
    // Streaming: the stop is asked at every step, even where no piece is final.
    let asked = Cell::new(0usize);
    let mut pieces = 0;
    let out = engine
        .generate_stream_until(
            PROMPT,
            &opts(20),
            || {
                asked.set(asked.get() + 1);
                asked.get() > 3
            },
            |_| {
                pieces += 1;
                true
            },
        )
        .unwrap();
    assert_eq!((out.finish_reason, out.completion_tokens), (FinishReason::Cancelled, 3));
    assert!(pieces <= 3);
}

#[test]
fn seeded_sampling_is_reproducible_and_not_greedy() {
    let engine = common::engine();
    let input = engine.encode(PROMPT).unwrap();
    let sampled = |seed| {
        let o = GenerateOptions {
            temperature: 2.0,
            top_p: 0.95,
            seed,
            ..opts(24)
        };
        engine.generate_ids(&input, &o).unwrap()
    };
    let greedy = engine.generate_ids(&input, &opts(24)).unwrap();
    assert_eq!(sampled(7), sampled(7));
    assert_ne!(sampled(7), greedy);
    assert!((1..5).any(|seed| sampled(seed) != sampled(7)));
}

#[test]
fn repeat_penalty_changes_a_repetitive_reply() {
    let engine = common::engine();
    let input = engine.encode(PROMPT).unwrap();
    let plain = engine.generate_ids(&input, &opts(24)).unwrap();
    let penalised = GenerateOptions {
        repeat_penalty: 3.0,
        ..opts(24)
    };
    let other = engine.generate_ids(&input, &penalised).unwrap();
    assert_ne!(plain, other);
    // The plain reply opens with one token four times over; the penalty
    // must break that run.
    assert_ne!(other[..4], [other[0]; 4]);
}

#[test]
fn invalid_options_are_rejected() {
    let engine = common::engine();
    for bad in [
        GenerateOptions {
            temperature: -1.0,
            ..opts(4)
        },
        GenerateOptions {
            temperature: f64::NAN,
            ..opts(4)
        },
        GenerateOptions { top_p: 0.0, ..opts(4) },
        GenerateOptions { top_p: 1.5, ..opts(4) },
        GenerateOptions {
            repeat_penalty: 0.0,
            ..opts(4)
        },
    ] {
        assert!(
            matches!(engine.generate(PROMPT, &bad), Err(Error::Request(_))),
            "{bad:?}"
        );
    }
    assert!(engine.generate_ids(&[], &opts(4)).is_err());
    let vocab = engine.config().vocab_size as u32;
    assert!(engine.generate_ids(&[vocab, 1], &opts(4)).is_err());
}

#[test]
fn missing_files_are_named() {
    for missing in ["config.json", "tokenizer.json", "model.safetensors"] {
        let dir = tempfile::tempdir().unwrap();
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            if file != missing {
                std::fs::copy(common::fixture_dir().join(file), dir.path().join(file)).unwrap();
            }
        }
        let err = Engine::load(dir.path()).err().expect("load must fail");
        assert!(
            matches!(err, Error::MissingFile { file, .. } if file == missing),
            "{err}"
        );
        assert!(err.to_string().contains(missing), "{err}");
    }
}

#[test]
fn half_precision_weights_are_computed_in_f32() {
    let weights = common::fixture_weights();
    let input = common::engine().encode(OTHER_PROMPT).unwrap();
    let steps = GenerateOptions {
        min_new_tokens: 12,
        ..opts(12)
    };
    for dtype in [DType::BF16, DType::F16] {
        let half: std::collections::HashMap<_, _> = weights
            .iter()
            .map(|(k, v)| (k.clone(), v.to_dtype(dtype).unwrap()))
            .collect();
        // The same rounded values stored as f32: must give identical logits.
        let widened: std::collections::HashMap<_, _> = half
            .iter()
            .map(|(k, v)| (k.clone(), v.to_dtype(DType::F32).unwrap()))
            .collect();
        let half_dir = common::variant(|_| {}, &half);
        let wide_dir = common::variant(|_| {}, &widened);
        let a = Engine::load(half_dir.path()).unwrap();
        let b = Engine::load(wide_dir.path()).unwrap();
        let ta = a.generate_with_logits(&input, &steps).unwrap();
        let tb = b.generate_with_logits(&input, &steps).unwrap();
        assert_eq!(ta, tb, "{dtype:?}");
        let stored = candle_core::safetensors::load(half_dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
        assert_eq!(stored["shared.weight"].dtype(), dtype);
    }
}
