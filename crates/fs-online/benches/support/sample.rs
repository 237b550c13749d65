//! What the online benches share: the ids they draw and the latency
//! percentiles they print.
//!
//! Both sides of every online pair draw ids the same way: a single get's id
//! uniformly at random with replacement ([`Ids::pick`]), a batch's ids
//! distinct, uniformly at random without replacement ([`Ids::distinct`]), as
//! `xtask/bench/online_boto3.py` does with `random.randrange` and
//! `random.sample`.

use std::time::Duration;

/// The fewest samples a p99 is printed over: below it, p50 and p90 only.
pub(crate) const P99_MIN_SAMPLES: usize = 1_000;

/// A seeded xorshift generator of record indexes below `records`.
pub(crate) struct Ids {
    state: u64,
    records: usize,
}

impl Ids {
    /// Indexes below `records`, from `seed` (non-zero).
    pub(crate) fn new(seed: u64, records: usize) -> Self {
        Self {
            state: seed,
            records,
        }
    }

    /// The generator's next 64 bits.
    fn step(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// One index, uniformly at random (with replacement).
    pub(crate) fn pick(&mut self) -> usize {
        (self.step() % self.records as u64) as usize
    }

    /// `n` distinct indexes, uniformly at random (without replacement,
    /// Floyd's algorithm), in the order drawn.
    pub(crate) fn distinct(&mut self, n: usize) -> Vec<usize> {
        assert!(n <= self.records, "{n} distinct ids of {}", self.records);
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut out = Vec::with_capacity(n);
        for j in self.records - n..self.records {
            let t = (self.step() % (j as u64 + 1)) as usize;
            let pick = if seen.insert(t) {
                t
            } else {
                seen.insert(j);
                j
            };
            out.push(pick);
        }
        out
    }
}

/// The `p` quantile of sorted samples (nearest rank).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints `RESULT {name}_p50`, `_p90` and, over at least
/// [`P99_MIN_SAMPLES`] samples, `_p99`, in µs.
#[expect(
    clippy::print_stdout,
    reason = "a bench binary reports its `RESULT` lines on standard output"
)]
pub(crate) fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mut quantiles = vec![("p50", 0.50), ("p90", 0.90)];
    if samples.len() >= P99_MIN_SAMPLES {
        quantiles.push(("p99", 0.99));
    }
    for (label, p) in quantiles {
        let us = percentile(&samples, p).as_secs_f64() * 1e6;
        println!("RESULT {name}_{label} {us:.2} us");
    }
}
