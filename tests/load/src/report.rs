//! The run's figures: per route the count, statuses, p50/p99 latency; in all the
//! throughput over the run's wall time.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::options::Options;
use crate::workload::{Outcome, Sample};

pub fn print(options: &Options, outcome: &Outcome, model_calls: usize) {
    let seconds = outcome.elapsed.as_secs_f64();
    let total = outcome.samples.len();
    println!(
        "{} users × {} in flight, {} requests (their registration included; not the warm-up user's) in {:.1} s: {:.1} requests/s; {} model calls to the fake Ollama (titles included)",
        options.users,
        options.in_flight,
        total,
        seconds,
        total as f64 / seconds,
        model_calls
    );
    let mut by_route: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for sample in &outcome.samples {
        by_route.entry(sample.route).or_default().push(sample);
    }
    println!("| route | requests | statuses | 5xx | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (route, samples) in by_route {
        let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
        latencies.sort();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for sample in &samples {
            *statuses.entry(sample.status).or_default() += 1;
        }
        let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        let server_errors = samples.iter().filter(|s| s.status >= 500).count();
        println!(
            "| {route} | {} | {} | {server_errors} | {:.1} | {:.1} | {:.1} |",
            samples.len(),
            statuses.join(" "),
            millis(percentile(&latencies, 50)),
            millis(percentile(&latencies, 99)),
            millis(*latencies.last().unwrap()),
        );
    }
    let charged: i64 = outcome.users.iter().map(|u| u.charged).sum();
    let questions: usize = outcome
        .users
        .iter()
        .flat_map(|u| &u.chats)
        .map(|c| c.questions.len())
        .sum();
    let (mut refused, mut refunded, mut raced) = (0, 0, 0);
    for user in &outcome.users {
        refused += user.endings.refused;
        refunded += user.endings.refunded;
        raced += user.endings.raced;
    }
    println!(
        "{charged} replies charged; {refused} refused for want of tokens (402); {refunded} failed after the charge and refunded (502/503); {raced} regenerations lost a race and refunded (409); {questions} user messages kept in the users' chats"
    );
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::percentile;
    use std::time::Duration;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Duration::from_millis(100));
        assert_eq!(percentile(&values, 99), Duration::from_millis(198));
        assert_eq!(percentile(&values[..1], 99), Duration::from_millis(1));
    }
}
