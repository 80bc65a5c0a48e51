//! Every Flan-T5 size must be buildable from its config.json alone.

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use flan_t5::config::{Activation, FeedForwardKind};
use flan_t5::model::{parameter_shapes, T5};
use flan_t5::T5Config;

/// (name, d_model, d_ff, num_layers, num_heads) of the released checkpoints.
const SIZES: [(&str, usize, usize, usize, usize); 5] = [
    ("small", 512, 1024, 8, 6),
    ("base", 768, 2048, 12, 12),
    ("large", 1024, 2816, 24, 16),
    ("xl", 2048, 5120, 24, 32),
    ("xxl", 4096, 10240, 24, 64),
];

/// The fields of the published config.json files (plus a few they carry
/// that the engine ignores).
fn flan_config_json(d_model: usize, d_ff: usize, layers: usize, heads: usize) -> String {
    format!(
        r#"{{
  "architectures": ["T5ForConditionalGeneration"],
  "d_ff": {d_ff},
  "d_kv": 64,
  "d_model": {d_model},
  "decoder_start_token_id": 0,
  "dense_act_fn": "gelu_new",
  "dropout_rate": 0.1,
  "eos_token_id": 1,
  "feed_forward_proj": "gated-gelu",
  "initializer_factor": 1.0,
  "is_encoder_decoder": true,
  "is_gated_act": true,
  "layer_norm_epsilon": 1e-06,
  "model_type": "t5",
  "n_positions": 512,
  "num_decoder_layers": {layers},
  "num_heads": {heads},
  "num_layers": {layers},
  "output_past": true,
  "pad_token_id": 0,
  "relative_attention_max_distance": 128,
  "relative_attention_num_buckets": 32,
  "tie_word_embeddings": false,
  "torch_dtype": "float32",
  "use_cache": true,
  "vocab_size": 32128
}}"#
    )
}

fn config(size: &str) -> T5Config {
    let &(_, d, ff, layers, heads) = SIZES.iter().find(|s| s.0 == size).unwrap();
    T5Config::from_json(&flan_config_json(d, ff, layers, heads)).unwrap()
}

#[test]
fn all_flan_configs_parse() {
    for (name, d, ff, layers, heads) in SIZES {
        let cfg = config(name);
        assert_eq!(
            (
                cfg.d_model,
                cfg.d_ff,
                cfg.num_layers,
                cfg.decoder_layers(),
                cfg.num_heads
            ),
            (d, ff, layers, layers, heads),
            "{name}"
        );
        assert_eq!(cfg.vocab_size, 32128);
        assert_eq!(cfg.inner_dim(), heads * 64);
        assert_eq!(
            cfg.feed_forward().unwrap(),
            FeedForwardKind {
                activation: Activation::GeluTanh,
                gated: true
            }
        );
        assert!(!cfg.tie_word_embeddings);
        assert_eq!((cfg.decoder_start_id(), cfg.eos_token_id), (0, 1));
    }
}

#[test]
fn every_size_lists_the_checkpoint_tensors_with_their_shapes() {
    for (name, d, ff, layers, heads) in SIZES {
        let shapes = parameter_shapes(&config(name)).unwrap();
        let get = |n: &str| {
            shapes
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| panic!("{name}: no {n}"))
        };
        let inner = heads * 64;
        let last = layers - 1;
        assert_eq!(get("shared.weight"), [32128, d]);
        assert_eq!(get("lm_head.weight"), [32128, d]);
        assert_eq!(get("encoder.block.0.layer.0.SelfAttention.q.weight"), [inner, d]);
        assert_eq!(get("encoder.block.0.layer.0.SelfAttention.o.weight"), [d, inner]);
        assert_eq!(
            get("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
            [32, heads]
        );
        assert_eq!(
            get("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
            [32, heads]
        );
        assert_eq!(
            get(&format!("decoder.block.{last}.layer.1.EncDecAttention.k.weight")),
            [inner, d]
        );
        assert_eq!(
            get(&format!("decoder.block.{last}.layer.2.DenseReluDense.wi_0.weight")),
            [ff, d]
        );
        assert_eq!(
            get(&format!("decoder.block.{last}.layer.2.DenseReluDense.wi_1.weight")),
            [ff, d]
        );
        assert_eq!(
            get(&format!("decoder.block.{last}.layer.2.DenseReluDense.wo.weight")),
            [d, ff]
        );
        assert_eq!(
            get(&format!("encoder.block.{last}.layer.1.DenseReluDense.wo.weight")),
            [d, ff]
        );
        assert_eq!(get("encoder.final_layer_norm.weight"), [d]);
        assert_eq!(get("decoder.final_layer_norm.weight"), [d]);

        // Only the first layer of each stack owns a bias table.
        let bias_tables = shapes
            .iter()
            .filter(|(k, _)| k.ends_with("relative_attention_bias.weight"))
            .count();
        assert_eq!(bias_tables, 2, "{name}");
        // 9 tensors per encoder block, 14 per decoder block, plus shared,
        // lm_head, two final norms and two bias tables.
        assert_eq!(shapes.len(), layers * 9 + layers * 14 + 6, "{name}");
    }
}

#[test]
fn parameter_counts_match_the_published_sizes() {
    // Rounded sizes from the model cards, in millions of parameters.
    for (name, millions) in [
        ("small", 77),
        ("base", 248),
        ("large", 783),
        ("xl", 2850),
        ("xxl", 11_135),
    ] {
        let total: usize = parameter_shapes(&config(name))
            .unwrap()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        let got = total as f64 / 1e6;
        assert!(
            (got - millions as f64).abs() / (millions as f64) < 0.01,
            "{name}: {got}M"
        );
    }
}

#[test]
fn small_builds_and_runs_a_step_from_config_alone() {
    let cfg = config("small");
    let vb = VarBuilder::zeros(DType::F32, &Device::Cpu);
    let model = T5::new(&cfg, vb).unwrap();
    let encoded = model.encode(&[100, 200, 1]).unwrap();
    assert_eq!(encoded.dims(), [1, 3, 512]);
    let mut cache = model.start_decoding(&encoded).unwrap();
    assert_eq!(cache.memory_len(), 3);
    let logits = model.decode_step(0, &mut cache).unwrap();
    assert_eq!(logits.dims(), [32128]);
    assert_eq!(cache.position(), 1);
}

#[test]
fn original_t5_defaults_apply_when_fields_are_absent() {
    let cfg = T5Config::from_json(
        r#"{"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048,
            "num_layers": 6, "num_heads": 8}"#,
    )
    .unwrap();
    assert_eq!(cfg.decoder_layers(), 6);
    assert!(cfg.tie_word_embeddings);
    assert_eq!(cfg.feed_forward().unwrap().activation, Activation::Relu);
    assert!(!cfg.feed_forward().unwrap().gated);
    assert_eq!(
        (cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance),
        (32, 128)
    );
    let names: Vec<String> = parameter_shapes(&cfg).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"encoder.block.5.layer.1.DenseReluDense.wi.weight".to_string()));
    assert!(!names.contains(&"lm_head.weight".to_string()));
}

#[test]
fn bad_configs_are_rejected_with_a_reason() {
    let base = flan_config_json(64, 128, 2, 4);
    for (from, to) in [
        ("\"gated-gelu\"", "\"gated-tanh\""),
        ("\"num_heads\": 4", "\"num_heads\": 0"),
        ("\"vocab_size\": 32128", "\"vocab_size\": \"many\""),
    ] {
        let text = base.replace(from, to);
        assert_ne!(text, base);
        let err = T5Config::from_json(&text).unwrap_err();
        assert!(err.to_string().starts_with("invalid config.json"), "{err}");
    }
    let list_eos = base.replace("\"eos_token_id\": 1", "\"eos_token_id\": [1, 5]");
    assert_eq!(T5Config::from_json(&list_eos).unwrap().eos_token_id, 1);
}
