//! Fault injection for tests and benchmarks: added latency and a share of
//! throttling or 5xx answers, for every operation or only some; inside
//! BatchWriteRecord, a share of entries answered as failed (throttled or an
//! internal failure, in `Errors`) or left unprocessed (`UnprocessedEntries`);
//! and failures *after the commit* of a PutRecord, a BatchWriteRecord or a
//! DeleteRecord (a 500, a connection dropped without an answer, or a wait
//! and then that drop), so that a client sees an error for a write that is
//! in the store, as it does when a real service's answer is lost.
//!
//! Fault injection is off unless the server is started with it
//! (`ServerOptions::fault_injection`, `fs-server --faults`), and injected
//! waits are at most [`Faults::MAX_LATENCY`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ApiError;

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// Latency added before every affected request is handled.
    pub latency: Duration,
    /// The service time of every affected request: it is answered no
    /// sooner than this after it arrived, its own work (decoding, the
    /// durable commit) running within that time, as a remote service with
    /// this response time answers. Unlike [`Faults::latency`], which is
    /// added before the work, the server's own time is not added on top.
    pub service_time: Duration,
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
    /// Share of BatchWriteRecord entries answered with the error code
    /// `ThrottlingException` (not written).
    pub entry_throttle_rate: f64,
    /// Share of BatchWriteRecord entries answered with the error code
    /// `InternalFailure` (not written).
    pub entry_error_rate: f64,
    /// Share of BatchWriteRecord entries returned in `UnprocessedEntries`
    /// (not written).
    pub unprocessed_rate: f64,
    /// Share of committed writes (PutRecord, DeleteRecord, a whole
    /// BatchWriteRecord) answered with 500 `InternalFailure`.
    pub post_commit_error_rate: f64,
    /// Share of committed writes whose connection is closed without an
    /// answer (the client sees the connection reset or closed).
    pub post_commit_reset_rate: f64,
    /// Share of committed writes held for [`Faults::post_commit_delay`]
    /// and then closed without an answer (a client with a shorter timeout
    /// sees a timeout).
    pub post_commit_timeout_rate: f64,
    /// How long a post-commit timeout holds the answer back (at most
    /// [`Faults::MAX_LATENCY`]; 5 s by default).
    pub post_commit_delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            service_time: Duration::ZERO,
            throttle_rate: 0.0,
            error_rate: 0.0,
            operations: None,
            seed: 0,
            entry_throttle_rate: 0.0,
            entry_error_rate: 0.0,
            unprocessed_rate: 0.0,
            post_commit_error_rate: 0.0,
            post_commit_reset_rate: 0.0,
            post_commit_timeout_rate: 0.0,
            post_commit_delay: Duration::from_secs(5),
        }
    }
}

/// Faults the server refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultsError {
    /// The server was started without fault injection.
    #[error(
        "fault injection is off; start fs-server with --faults (ServerOptions::fault_injection) to inject faults"
    )]
    Disabled,
    /// A wait over [`Faults::MAX_LATENCY`].
    #[error("{what} of {millis} ms is over the limit of {max} ms", max = Faults::MAX_LATENCY.as_millis())]
    TooLong {
        /// The setting refused (`latency`, `service_time`,
        /// `post_commit_delay`).
        what: &'static str,
        /// The value asked for, in milliseconds.
        millis: u128,
    },
}

/// What a fault after the commit does to the answer of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostCommitFault {
    /// Answer 500 `InternalFailure`.
    Error,
    /// Close the connection without an answer.
    Reset,
    /// Wait, then close the connection without an answer.
    Timeout(Duration),
}

/// What the faults do to one BatchWriteRecord entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryFault {
    None,
    Throttled,
    Failed,
    Unprocessed,
}

impl Faults {
    /// The longest wait the server injects (latency, service time or a
    /// post-commit delay): one minute, the server's default request
    /// timeout.
    pub const MAX_LATENCY: Duration = Duration::from_secs(60);

    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether the server can inject these faults: every wait at most
    /// [`Faults::MAX_LATENCY`].
    pub fn validate(&self) -> Result<(), FaultsError> {
        for (what, d) in [
            ("latency", self.latency),
            ("service_time", self.service_time),
            ("post_commit_delay", self.post_commit_delay),
        ] {
            if d > Self::MAX_LATENCY {
                return Err(FaultsError::TooLong {
                    what,
                    millis: d.as_millis(),
                });
            }
        }
        Ok(())
    }

    /// These faults with a share of committed writes answered with 500
    /// `InternalFailure`.
    pub fn post_commit_error_rate(mut self, rate: f64) -> Self {
        self.post_commit_error_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// These faults with a share of committed writes whose connection is
    /// closed without an answer.
    pub fn post_commit_reset_rate(mut self, rate: f64) -> Self {
        self.post_commit_reset_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// These faults with a share of committed writes held back for
    /// `delay` and then closed without an answer.
    pub fn post_commit_timeout(mut self, rate: f64, delay: Duration) -> Self {
        self.post_commit_timeout_rate = rate.clamp(0.0, 1.0);
        self.post_commit_delay = delay;
        self
    }

    /// These faults with an added latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// These faults with every affected request answered no sooner than
    /// `service_time` after it arrived (see [`Faults::service_time`]).
    pub fn service_time(mut self, service_time: Duration) -> Self {
        self.service_time = service_time;
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

    /// These faults with a share of BatchWriteRecord entries throttled.
    pub fn entry_throttle_rate(mut self, rate: f64) -> Self {
        self.entry_throttle_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// These faults with a share of BatchWriteRecord entries failed with `InternalFailure`.
    pub fn entry_error_rate(mut self, rate: f64) -> Self {
        self.entry_error_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// These faults with a share of BatchWriteRecord entries left unprocessed.
    pub fn unprocessed_rate(mut self, rate: f64) -> Self {
        self.unprocessed_rate = rate.clamp(0.0, 1.0);
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

    pub(crate) fn applies_to(&self, operation: &str) -> bool {
        self.operations
            .as_ref()
            .is_none_or(|ops| ops.contains(operation))
    }
}

/// The server's fault state: the current faults and a generator.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    /// Shared, so that each request reads them without copying.
    faults: Mutex<Arc<Faults>>,
    counter: AtomicU64,
}

impl FaultState {
    pub(crate) fn set(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = Arc::new(faults);
        self.counter.store(0, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> Arc<Faults> {
        Arc::clone(&self.faults.lock().expect("faults lock"))
    }

    /// Applies the faults to one request of `operation`: sleeps for the
    /// latency, then maybe fails it.
    pub(crate) async fn apply(&self, operation: &str) -> Result<(), ApiError> {
        let faults = self.get();
        if !faults.applies_to(operation) {
            return Ok(());
        }
        if !faults.latency.is_zero() {
            crate::wait::sleep(faults.latency).await;
        }
        if faults.throttle_rate == 0.0 && faults.error_rate == 0.0 {
            return Ok(());
        }
        let draw = self.draw(&faults);
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

impl FaultState {
    /// The service time of `operation`'s requests, when one is injected.
    pub(crate) fn service_time(&self, operation: &str) -> Option<Duration> {
        let faults = self.get();
        (!faults.service_time.is_zero() && faults.applies_to(operation))
            .then_some(faults.service_time)
    }

    /// What happens to the answer of a committed write of `operation`
    /// (PutRecord, DeleteRecord, BatchWriteRecord): `None` answers it.
    pub(crate) fn after_commit(&self, operation: &str) -> Option<PostCommitFault> {
        let faults = self.get();
        let (e, r, t) = (
            faults.post_commit_error_rate,
            faults.post_commit_reset_rate,
            faults.post_commit_timeout_rate,
        );
        if e == 0.0 && r == 0.0 && t == 0.0 || !faults.applies_to(operation) {
            return None;
        }
        let draw = self.draw(&faults);
        if draw < e {
            Some(PostCommitFault::Error)
        } else if draw < e + r {
            Some(PostCommitFault::Reset)
        } else if draw < e + r + t {
            Some(PostCommitFault::Timeout(faults.post_commit_delay))
        } else {
            None
        }
    }

    /// The next number of the seeded sequence, in `[0, 1)`.
    fn draw(&self, faults: &Faults) -> f64 {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        unit_interval(splitmix64(
            faults.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }

    /// What happens to one entry of a BatchWriteRecord request.
    pub(crate) fn entry(&self) -> EntryFault {
        let faults = self.get();
        let (t, e, u) = (
            faults.entry_throttle_rate,
            faults.entry_error_rate,
            faults.unprocessed_rate,
        );
        if t == 0.0 && e == 0.0 && u == 0.0 || !faults.applies_to("BatchWriteRecord") {
            return EntryFault::None;
        }
        let draw = self.draw(&faults);
        if draw < t {
            EntryFault::Throttled
        } else if draw < t + e {
            EntryFault::Failed
        } else if draw < t + e + u {
            EntryFault::Unprocessed
        } else {
            EntryFault::None
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

impl FaultState {
    /// The answer to a committed write of `operation`: `committed`, or what
    /// an injected post-commit fault makes of it.
    pub(crate) async fn answer_committed(
        &self,
        operation: &'static str,
        committed: axum::response::Response,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        match self.after_commit(operation) {
            None => committed,
            Some(PostCommitFault::Error) => ApiError::internal(format!(
                "Internal failure (injected) after {operation} was committed"
            ))
            .into_response(),
            Some(PostCommitFault::Reset) => crate::serve::drop_connection(),
            Some(PostCommitFault::Timeout(delay)) => {
                tokio::time::sleep(delay).await;
                crate::serve::drop_connection()
            }
        }
    }
}
