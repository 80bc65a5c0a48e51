//! Running a whole model pass on the rayon pool.
//!
//! Every parallel product hands its tasks to rayon's pool. Called from a
//! thread outside the pool (the request's own thread), each hand-over
//! queues the work, wakes a worker and puts the caller to sleep until the
//! workers are done, and a flan-t5-base decoding step makes about seventy
//! of them; in a VM every such wake-up is an interrupt between cores. Run
//! from a pool thread, a product splits its work in place and that thread
//! takes part in it. Measured on two cores: decoding streamed the weights
//! 10–30 % faster (BENCHMARKS.md, "One hand-over per pass").
//!
//! Each pass is its own job, not a whole reply: a worker waiting on one
//! request's product may pick up another request's pass, which then delays
//! the first by one pass (milliseconds), never by a whole generation.

/// Runs `pass` on a thread of rayon's pool (in place when already on one)
/// and returns its result.
pub fn on_pool<R: Send>(pass: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| pass())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_runs_on_a_pool_thread_and_returns_its_value() {
        assert!(
            rayon::current_thread_index().is_none(),
            "the test starts outside the pool"
        );
        let (index, value) = on_pool(|| (rayon::current_thread_index(), 42));
        assert!(index.is_some(), "the pass ran outside the pool");
        assert_eq!(value, 42);
        // Nested: already on the pool, the pass runs in place.
        let nested = on_pool(|| {
            let outer = rayon::current_thread_index();
            on_pool(|| rayon::current_thread_index() == outer)
        });
        assert!(nested);
    }
}
