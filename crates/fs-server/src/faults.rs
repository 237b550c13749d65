//! Fault injection for tests and benchmarks: added latency and a share of
//! throttling or 5xx answers, for every operation or only some.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ApiError;

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// Latency added before every affected request is handled.
    pub latency: Duration,
    /// Share (0.0 to 1.0) of affected requests answered with 400 `ThrottlingException`.
    pub throttle_rate: f64,
    /// Share (0.0 to 1.0) of affected requests answered with 503 `ServiceUnavailable`.
    pub error_rate: f64,
    /// Operations affected (e.g. `PutRecord`, `BatchGetRecord`,
    /// `CreateFeatureGroup`); every operation when `None`.
    pub operations: Option<HashSet<String>>,
    /// Seed of the generator that picks which requests fail, so that runs
    /// can be repeated.
    pub seed: u64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// These faults with an added latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// These faults with a share of throttled answers.
    pub fn throttle_rate(mut self, rate: f64) -> Self {
        self.throttle_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// These faults with a share of 503 answers.
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// These faults for the named operations only.
    pub fn only(mut self, operations: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.operations = Some(operations.into_iter().map(Into::into).collect());
        self
    }

    /// These faults with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn applies_to(&self, operation: &str) -> bool {
        self.operations
            .as_ref()
            .is_none_or(|ops| ops.contains(operation))
    }
}

/// The server's fault state: the current faults and a generator.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    faults: Mutex<Faults>,
    counter: AtomicU64,
}

impl FaultState {
    pub(crate) fn set(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = faults;
        self.counter.store(0, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> Faults {
        self.faults.lock().expect("faults lock").clone()
    }

    /// Applies the faults to one request of `operation`: sleeps for the
    /// latency, then maybe fails it.
    pub(crate) async fn apply(&self, operation: &str) -> Result<(), ApiError> {
        let faults = self.get();
        if !faults.applies_to(operation) {
            return Ok(());
        }
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        if faults.throttle_rate == 0.0 && faults.error_rate == 0.0 {
            return Ok(());
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let draw = unit_interval(splitmix64(
            faults.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        if draw < faults.throttle_rate {
            Err(ApiError::throttling(format!(
                "Rate exceeded (injected) for {operation}"
            )))
        } else if draw < faults.throttle_rate + faults.error_rate {
            Err(ApiError::unavailable(format!(
                "Service unavailable (injected) for {operation}"
            )))
        } else {
            Ok(())
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}
