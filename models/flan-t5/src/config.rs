//! Model hyper-parameters as Hugging Face writes them in `config.json`.
//!
//! Every field the network needs is read from the file so that one binary
//! serves any Flan-T5 size; missing optional fields fall back to the values
//! `transformers.T5Config` would use, so older exports still load.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer};
use std::path::Path;

/// Non-linearity inside the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// `transformers` calls the erf form plain "gelu".
    GeluErf,
    /// The tanh approximation (`gelu_new`), which Flan-T5's "gated-gelu" means.
    GeluTanh,
    Silu,
}

/// How the feed-forward block is wired, decoded from `feed_forward_proj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedForwardKind {
    pub activation: Activation,
    /// Gated blocks (T5 v1.1, Flan-T5) have two input projections `wi_0`, `wi_1`.
    pub gated: bool,
}

impl FeedForwardKind {
    /// Mirrors the parsing rules of `transformers.T5Config` so every released
    /// checkpoint maps to the activation it was trained with.
    pub fn parse(proj: &str) -> Result<Self> {
        let (gated, act) = match proj.split_once('-') {
            Some(("gated", act)) => (true, act),
            None => (false, proj),
            Some(_) => return Err(Error::Config(format!("unknown feed_forward_proj {proj:?}"))),
        };
        let activation = match act {
            "relu" => Activation::Relu,
            // transformers rewrites "gated-gelu" to gelu_new for compatibility.
            "gelu" if gated => Activation::GeluTanh,
            "gelu" => Activation::GeluErf,
            "gelu_new" => Activation::GeluTanh,
            "silu" | "swish" => Activation::Silu,
            _ => return Err(Error::Config(format!("unknown feed_forward_proj {proj:?}"))),
        };
        Ok(Self { activation, gated })
    }
}

/// Parsed `config.json` of a T5 / Flan-T5 checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    #[serde(default = "default_num_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_feed_forward_proj")]
    pub feed_forward_proj: String,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    #[serde(default = "default_eos", deserialize_with = "first_id")]
    pub eos_token_id: u32,
    #[serde(default)]
    pub pad_token_id: u32,
}

fn default_num_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_epsilon() -> f64 {
    1e-6
}
fn default_feed_forward_proj() -> String {
    "relu".to_string()
}
fn default_true() -> bool {
    true
}
fn default_eos() -> u32 {
    1
}

/// Some exports write `eos_token_id` as a list; generation only needs one id.
fn first_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    match OneOrMany::deserialize(d)? {
        OneOrMany::One(id) => Ok(id),
        OneOrMany::Many(ids) => ids
            .first()
            .copied()
            .ok_or_else(|| serde::de::Error::custom("eos_token_id is an empty list")),
    }
}

impl T5Config {
    /// Parses and validates, so a bad file fails at load instead of mid-request.
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text)
    }

    fn validate(&self) -> Result<()> {
        FeedForwardKind::parse(&self.feed_forward_proj)?;
        let positive = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("relative_attention_num_buckets", self.relative_attention_num_buckets),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::Config(format!("{name} must be positive")));
            }
        }
        // The bucket formula divides by half of the (halved) bucket count.
        if self.relative_attention_num_buckets < 4 {
            return Err(Error::Config(
                "relative_attention_num_buckets must be at least 4".into(),
            ));
        }
        if self.num_decoder_layers == Some(0) {
            return Err(Error::Config("num_decoder_layers must be positive".into()));
        }
        Ok(())
    }

    /// `transformers` uses the encoder depth when the decoder depth is absent.
    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    /// T5 starts decoding from the pad token unless told otherwise.
    pub fn decoder_start_id(&self) -> u32 {
        self.decoder_start_token_id.unwrap_or(self.pad_token_id)
    }

    /// Returns a result because a config built in code skips `validate`.
    pub fn feed_forward(&self) -> Result<FeedForwardKind> {
        FeedForwardKind::parse(&self.feed_forward_proj)
    }

    /// Width of the concatenated attention heads, which need not equal d_model.
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_forward_names_follow_transformers() {
        let parse = |s| FeedForwardKind::parse(s).unwrap();
        assert_eq!(parse("gated-gelu").activation, Activation::GeluTanh);
        assert!(parse("gated-gelu").gated);
        assert_eq!(parse("gelu").activation, Activation::GeluErf);
        assert_eq!(parse("gelu_new").activation, Activation::GeluTanh);
        assert_eq!(parse("gated-silu").activation, Activation::Silu);
        assert!(!parse("relu").gated);
        assert!(FeedForwardKind::parse("double-gelu").is_err());
        assert!(FeedForwardKind::parse("gated-tanh").is_err());
    }
}
