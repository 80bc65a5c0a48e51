//! Decoding steps of concurrent requests, run as one batch.
//!
//! A decoding step streams every decoder weight from memory, so two requests
//! decoding side by side each read all of them, and on two cores the total
//! stayed at one request's rate (BENCHMARKS.md, "Batched decoding"). Here
//! the requests' threads meet: each puts its next token and its cache in a
//! queue, and one of them runs the whole queue as one step
//! ([`T5::decode_steps`]), reading each weight once for all of them. In f32
//! a request's numbers are exactly those it gets alone; with int8 weights
//! candle's kernels may round a row differently in company (the tests see
//! the same tokens: tests/batched_steps.rs).
//!
//! A step waits for the other requests that are decoding (between their
//! first and last step) to queue theirs, at most [`GATHER`]: a request whose
//! thread is busy elsewhere (a slow streaming client) holds the others back
//! by that much per step, never more.

use crate::error::{Error, Result};
use crate::model::{DecoderCache, MAX_DOT_PRODUCT_ROWS, T5};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Longest a queued step waits for the other decoding requests' steps: far
/// longer than picking a token takes, well under a step (3–10 ms).
const GATHER: Duration = Duration::from_millis(2);

/// Most requests in one batch. Up to this many rows the decoder's products
/// are dot products, which give each row exactly what it gets alone; later
/// requests wait for the next batch.
const MAX_BATCH: usize = MAX_DOT_PRODUCT_ROWS;

/// What one step hands back: the logits of the request's next token and its cache.
type StepResult = Result<(Vec<f32>, DecoderCache)>;

#[derive(Debug)]
pub(crate) struct Batcher {
    state: Mutex<State>,
    changed: Condvar,
    gather: Duration,
}

impl Default for Batcher {
    fn default() -> Self {
        Self::with_gather(GATHER)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Requests decoding now, each holding a [`Session`].
    decoding: usize,
    queued: Vec<Queued>,
    /// A batch is being run (by one of the queued requests' threads).
    running: bool,
    done: Vec<(u64, StepResult)>,
    next_id: u64,
    /// The most requests one batch has held (for tests and curiosity).
    largest: usize,
}

#[derive(Debug)]
struct Queued {
    id: u64,
    token: u32,
    cache: DecoderCache,
    since: Instant,
}

/// One request's membership in the batches, from its first step to its last.
pub(crate) struct Session<'a> {
    batcher: &'a Batcher,
}

impl Batcher {
    fn with_gather(gather: Duration) -> Self {
        Self {
            state: Mutex::default(),
            changed: Condvar::new(),
            gather,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the state half-changed
        // (every change is a push, a take or a counter), so carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a request's decoding; its steps are batched with those of the
    /// other open sessions until the session is dropped.
    pub(crate) fn session(&self) -> Session<'_> {
        self.lock().decoding += 1;
        Session { batcher: self }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.batcher.lock().decoding -= 1;
        // Steps waiting for this request's may now be complete.
        self.batcher.changed.notify_all();
    }
}

impl Session<'_> {
    /// Feeds `token` to the request whose cache is `cache` and returns the
    /// logits (vocab) of its next token with the cache, advanced one position.
    pub(crate) fn step(&self, model: &T5, token: u32, cache: DecoderCache) -> StepResult {
        let batcher = self.batcher;
        let mut state = batcher.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.queued.push(Queued {
            id,
            token,
            cache,
            since: Instant::now(),
        });
        batcher.changed.notify_all();
        loop {
            if let Some(at) = state.done.iter().position(|(done, _)| *done == id) {
                return state.done.swap_remove(at).1;
            }
            let oldest = state.queued.first().map(|q| q.since);
            let Some(oldest) = oldest.filter(|_| !state.running) else {
                // A batch is running (ours, or ours is queued behind it).
                state = batcher.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let waited = oldest.elapsed();
            if state.queued.len() < state.decoding && waited < batcher.gather {
                state = batcher
                    .changed
                    .wait_timeout(state, batcher.gather - waited)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            // Everyone is here, or has had time to be: this thread runs the batch.
            state.running = true;
            let take = state.queued.len().min(MAX_BATCH);
            let batch: Vec<Queued> = state.queued.drain(..take).collect();
            state.largest = state.largest.max(batch.len());
            drop(state);
            let ids: Vec<u64> = batch.iter().map(|q| q.id).collect();
            let outcome = catch_unwind(AssertUnwindSafe(|| run(model, batch)));
            state = batcher.lock();
            state.running = false;
            match outcome {
                Ok(results) => state.done.extend(results),
                // The caches went down with the batch: every request in it fails,
                // not only the one whose thread happened to run it. (Release
                // builds abort on a panic; this keeps tests and debug runs going.)
                Err(_) => {
                    for id in ids {
                        let lost = candle_core::Error::Msg("a batched decoding step panicked".into());
                        state.done.push((id, Err(Error::Candle(lost))));
                    }
                }
            }
            batcher.changed.notify_all();
        }
    }
}

/// Runs one batched step and gives each queued request its result.
fn run(model: &T5, batch: Vec<Queued>) -> Vec<(u64, StepResult)> {
    let tokens: Vec<u32> = batch.iter().map(|q| q.token).collect();
    let (ids, mut caches): (Vec<u64>, Vec<DecoderCache>) = batch.into_iter().map(|q| (q.id, q.cache)).unzip();
    let mut borrowed: Vec<&mut DecoderCache> = caches.iter_mut().collect();
    let logits = model
        .decode_steps(&tokens, &mut borrowed)
        .and_then(|rows| rows.to_vec2::<f32>());
    match logits {
        Ok(rows) => ids
            .into_iter()
            .zip(rows.into_iter().zip(caches))
            .map(|(id, result)| (id, Ok(result)))
            .collect(),
        Err(e) => ids
            .into_iter()
            .map(|id| (id, Err(Error::Candle(candle_core::Error::Msg(e.to_string())))))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;
    use std::path::Path;
    use std::sync::Barrier;

    fn engine() -> Engine {
        Engine::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-t5")).unwrap()
    }

    fn start(engine: &Engine, prompt: &[u32]) -> DecoderCache {
        let model = engine.model();
        model.start_decoding(&model.encode(prompt).unwrap()).unwrap()
    }

    fn argmax(row: &[f32]) -> u32 {
        (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap() as u32
    }

    /// Greedy decoding of `steps` steps through `session`, every step's logits.
    fn decode(engine: &Engine, session: &Session, mut cache: DecoderCache, steps: usize) -> Vec<Vec<f32>> {
        let mut token = engine.config().decoder_start_id();
        let mut all = Vec::new();
        for _ in 0..steps {
            let logits;
            (logits, cache) = session.step(engine.model(), token, cache).unwrap();
            token = argmax(&logits);
            all.push(logits);
        }
        all
    }

    #[test]
    fn concurrent_sessions_are_batched_and_each_gets_its_own_numbers() {
        let engine = engine();
        let prompts: [&[u32]; 2] = [&[37, 5, 99, 1], &[8, 1]];
        // Each alone first, through a batcher of its own.
        let alone: Vec<_> = prompts
            .iter()
            .map(|p| {
                let batcher = Batcher::default();
                let session = batcher.session();
                decode(&engine, &session, start(&engine, p), 6)
            })
            .collect();
        // Together: a gather window long enough that each step waits for the
        // other's; the shorter request leaves after 3 steps.
        let batcher = Batcher::with_gather(Duration::from_secs(60));
        let both_open = Barrier::new(2);
        let together: Vec<_> = std::thread::scope(|scope| {
            let runs: Vec<_> = prompts
                .iter()
                .zip([6, 3])
                .map(|(p, steps)| {
                    let (engine, batcher, both_open) = (&engine, &batcher, &both_open);
                    scope.spawn(move || {
                        let session = batcher.session();
                        both_open.wait();
                        decode(engine, &session, start(engine, p), steps)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(batcher.lock().largest, 2, "the two requests' steps ran as one batch");
        assert_eq!(together[0], alone[0]);
        assert_eq!(together[1], alone[1][..3]);
        let state = batcher.lock();
        assert_eq!((state.decoding, state.queued.len(), state.done.len()), (0, 0, 0));
    }

    #[test]
    fn more_requests_than_a_batch_holds_take_turns() {
        let engine = engine();
        let prompt: &[u32] = &[37, 5, 99, 1];
        let alone = {
            let batcher = Batcher::default();
            let session = batcher.session();
            decode(&engine, &session, start(&engine, prompt), 3)
        };
        let clients = MAX_BATCH + 2;
        let batcher = Batcher::with_gather(Duration::from_secs(60));
        let all_open = Barrier::new(clients);
        let results: Vec<_> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..clients)
                .map(|_| {
                    let (engine, batcher, all_open) = (&engine, &batcher, &all_open);
                    scope.spawn(move || {
                        let session = batcher.session();
                        all_open.wait();
                        decode(engine, &session, start(engine, prompt), 3)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(batcher.lock().largest, MAX_BATCH);
        assert!(results.iter().all(|r| *r == alone));
    }

    #[test]
    fn a_step_does_not_wait_past_the_gather_window_for_an_idle_session() {
        let engine = engine();
        let batcher = Batcher::with_gather(Duration::from_millis(1));
        // This session never steps; the other must still make progress.
        let _idle = batcher.session();
        let session = batcher.session();
        let logits = decode(&engine, &session, start(&engine, &[4, 1]), 3);
        assert_eq!(logits.len(), 3);
        assert_eq!(batcher.lock().largest, 1);
    }

    #[test]
    fn a_batch_that_panics_fails_its_requests_and_leaves_the_batcher_usable() {
        let engine = engine();
        // A cache from a one-layer decoder makes the full model index past its
        // layers: a panic inside the batch.
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-t5");
        let shallow_dir = tempfile::tempdir().unwrap();
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("config.json")).unwrap()).unwrap();
        config["num_decoder_layers"] = 1.into();
        std::fs::write(shallow_dir.path().join("config.json"), config.to_string()).unwrap();
        for file in ["tokenizer.json", "model.safetensors"] {
            std::fs::copy(fixture.join(file), shallow_dir.path().join(file)).unwrap();
        }
        let shallow = Engine::load(shallow_dir.path()).unwrap();
        assert!(engine.config().decoder_layers() > 1);
        let broken = start(&shallow, &[4, 1]);

        let batcher = Batcher::with_gather(Duration::from_secs(60));
        let both_open = Barrier::new(2);
        let outcomes: Vec<Option<String>> = std::thread::scope(|scope| {
            let runs: Vec<_> = [broken, start(&engine, &[4, 1])]
                .into_iter()
                .map(|cache| {
                    let (engine, batcher, both_open) = (&engine, &batcher, &both_open);
                    scope.spawn(move || {
                        let session = batcher.session();
                        both_open.wait();
                        let token = engine.config().decoder_start_id();
                        session.step(engine.model(), token, cache).err().map(|e| e.to_string())
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().expect("no thread panics")).collect()
        });
        for outcome in &outcomes {
            let message = outcome.as_deref().expect("both requests of the batch fail");
            assert!(message.contains("panicked"), "{message}");
        }
        let state = batcher.lock();
        assert!(!state.running && state.queued.is_empty() && state.done.is_empty());
        drop(state);
        let session = batcher.session();
        assert_eq!(decode(&engine, &session, start(&engine, &[4, 1]), 2).len(), 2);
    }

    #[test]
    fn a_failed_batch_fails_its_requests_and_leaves_the_batcher_usable() {
        let engine = engine();
        let batcher = Batcher::default();
        let session = batcher.session();
        // A token outside the vocabulary makes the step fail.
        let too_far = engine.config().vocab_size as u32;
        assert!(session.step(engine.model(), too_far, start(&engine, &[4, 1])).is_err());
        let state = batcher.lock();
        assert!(!state.running && state.queued.is_empty() && state.done.is_empty());
        drop(state);
        assert_eq!(decode(&engine, &session, start(&engine, &[4, 1]), 2).len(), 2);
    }
}
