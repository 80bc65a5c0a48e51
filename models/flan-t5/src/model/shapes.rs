//! Lists the parameters a configuration needs without allocating them.
//!
//! The real constructor runs against a backend that records each request
//! and hands back a zero-stride placeholder, so the listing cannot drift
//! from what loading actually reads, even for an 11B-parameter config.

use super::T5;
use crate::config::T5Config;
use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use std::sync::{Arc, Mutex};

type Records = Arc<Mutex<Vec<(String, Vec<usize>)>>>;

struct Recorder(Records);

impl SimpleBackend for Recorder {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.0
            .lock()
            .expect("recorder lock")
            .push((name.to_string(), s.dims().to_vec()));
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("shape of {name} is not known to the recorder")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// Every tensor name the model reads for `config`, with its shape, in the
/// order the constructor asks for them.
pub fn parameter_shapes(config: &T5Config) -> Result<Vec<(String, Vec<usize>)>> {
    let records = Records::default();
    let vb = VarBuilder::from_backend(Box::new(Recorder(records.clone())), DType::F32, Device::Cpu);
    T5::new(config, vb)?;
    let list = records.lock().expect("recorder lock").clone();
    Ok(list)
}
