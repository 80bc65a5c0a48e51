//! Helpers shared by the integration tests.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use flan_t5::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-t5")
}

/// One engine per test binary: loading is cheap, but sharing it also
/// exercises reuse across tests running on several threads.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(&fixture_dir()).expect("fixture loads"))
}

pub fn fixture_weights() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture_dir().join("model.safetensors"), &Device::Cpu).expect("fixture weights")
}

/// A copy of the fixture with its config edited by `edit_config` and its
/// weights replaced by `weights`.
pub fn variant(
    edit_config: impl FnOnce(&mut serde_json::Value),
    weights: &HashMap<String, Tensor>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = fixture_dir();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit_config(&mut config);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::copy(src.join("tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    candle_core::safetensors::save(weights, dir.path().join("model.safetensors")).unwrap();
    dir
}
