//! Turns next-token logits into a token id.
//!
//! Sampling uses its own small PRNG so that a seed gives the same text on
//! every platform and crate version, which the API relies on for
//! reproducible replies.

/// SplitMix64: tiny, fast and with well-mixed output from any seed,
/// including 0 and consecutive integers.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Settings that decide how one token is picked.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    temperature: f64,
    top_p: f64,
    repeat_penalty: f32,
    rng: SplitMix64,
}

impl Sampler {
    pub(crate) fn new(temperature: f64, top_p: f64, repeat_penalty: f32, seed: u64) -> Self {
        Self {
            temperature,
            top_p,
            repeat_penalty,
            rng: SplitMix64::new(seed),
        }
    }

    /// Picks the next token. `generated` are the tokens produced so far (for
    /// the repeat penalty); `banned` gets probability zero.
    pub(crate) fn pick(&mut self, logits: &[f32], generated: &[u32], banned: Option<u32>) -> u32 {
        let mut logits = logits.to_vec();
        if self.repeat_penalty != 1.0 {
            apply_repeat_penalty(&mut logits, generated, self.repeat_penalty);
        }
        if let Some(id) = banned {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if self.temperature <= 0.0 {
            argmax(&logits)
        } else {
            self.sample(&logits)
        }
    }

    fn sample(&mut self, logits: &[f32]) -> u32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, ((l as f64 - max) / self.temperature).exp()))
            .filter(|&(_, p)| p > 0.0)
            .collect();
        // Highest first; ties by id keep the order deterministic.
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let total: f64 = probs.iter().map(|p| p.1).sum();
        if self.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = probs.len();
            for (i, &(_, p)) in probs.iter().enumerate() {
                cumulative += p / total;
                if cumulative >= self.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep.max(1));
        }
        let kept: f64 = probs.iter().map(|p| p.1).sum();
        let mut target = self.rng.next_f64() * kept;
        for &(id, p) in &probs {
            if target < p {
                return id;
            }
            target -= p;
        }
        probs.last().map_or(0, |p| p.0)
    }
}

/// CTRL-style penalty as in transformers: shrink positive logits and grow
/// negative ones, once per distinct token already generated.
fn apply_repeat_penalty(logits: &mut [f32], generated: &[u32], penalty: f32) {
    let mut seen = std::collections::HashSet::new();
    for &id in generated {
        if !seen.insert(id) {
            continue;
        }
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
        }
    }
}

/// First index of the maximum, matching `torch.argmax` on ties.
pub(crate) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[0.0, 3.0, 3.0, 1.0]), 1);
    }

    #[test]
    fn banned_token_is_never_chosen_greedily() {
        let mut s = Sampler::new(0.0, 1.0, 1.0, 0);
        assert_eq!(s.pick(&[0.0, 5.0, 1.0], &[], Some(1)), 2);
    }

    #[test]
    fn repeat_penalty_moves_both_signs_down() {
        let mut logits = vec![2.0, -2.0, 1.0];
        apply_repeat_penalty(&mut logits, &[0, 1, 0], 2.0);
        assert_eq!(logits, vec![1.0, -4.0, 1.0]);
    }

    #[test]
    fn repeat_penalty_changes_greedy_choice() {
        let mut s = Sampler::new(0.0, 1.0, 3.0, 0);
        assert_eq!(s.pick(&[3.0, 2.0], &[0], None), 1);
    }

    #[test]
    fn tiny_top_p_reduces_sampling_to_greedy() {
        let mut s = Sampler::new(1.0, 1e-9, 1.0, 7);
        for _ in 0..50 {
            assert_eq!(s.pick(&[0.5, 0.9, 0.1], &[], None), 1);
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // p = softmax([ln 3, 0]) = [0.75, 0.25]
        let mut s = Sampler::new(1.0, 1.0, 1.0, 11);
        let n = 20_000;
        let zeros = (0..n).filter(|_| s.pick(&[3f32.ln(), 0.0], &[], None) == 0).count();
        let share = zeros as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.02, "share {share}");
    }

    #[test]
    fn rng_is_deterministic_per_seed() {
        let a: Vec<u64> = {
            let mut r = SplitMix64::new(5);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let mut r = SplitMix64::new(5);
        assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
        let mut other = SplitMix64::new(6);
        assert_ne!(a[0], other.next_u64());
    }
}
