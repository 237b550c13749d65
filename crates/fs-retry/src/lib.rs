//! # fs-retry
//!
//! The one retry policy of the feature store: every remote call that
//! retries (ingestion sinks, the AWS online store, S3 cache downloads) and
//! every poll (Athena's GetQueryExecution) takes its delays from here.
//!
//! | item | holds |
//! |---|---|
//! | [`RetryConfig`] | retries, delay schedule and total deadline; [`run`](RetryConfig::run) and [`run_classified`](RetryConfig::run_classified) |
//! | [`RetryClass`], [`Classify`] | the one classification of errors: permanent, throttled (not applied), transient (outcome unknown) |
//! | [`Retried`], [`GaveUp`] | what a run ended with, and why retries stopped |
//! | [`Backoff`], [`Jitter`], [`Delays`] | the delay schedule, shared by retries and polling |
//!
//! ## The policy
//!
//! **What is retried.** Only errors classified as retryable: a
//! [`RetryClass::Throttled`] error (the service refused the call, so it was
//! not applied) or a [`RetryClass::Transient`] one (a 5xx, a timeout, a
//! connection that failed while the request was out). A
//! [`RetryClass::Permanent`] error (invalid input, not found, access
//! denied) is returned at once: retrying cannot help.
//!
//! **How long to wait.** The delay before retry `n` (1-based) is a
//! uniformly random duration between zero and
//! `min(max, initial · multiplier^(n-1))` ("full jitter"; the multiplier is
//! 2 for retries), so that many writers throttled together do not come
//! back together. The cap `max` bounds every delay.
//!
//! **When to stop.** At `max_retries` retries, or at the total `deadline`:
//! no retry is made whose delay would end more than `deadline` after the
//! first attempt. An attempt already running is not cut short (the SDK's
//! own timeouts bound it), so that a write is never reported failed while
//! it may still be applied.
//!
//! **Unknown outcomes.** A transient error leaves the outcome unknown: the
//! write may have landed and only its answer been lost. A retry after one
//! may write the row twice: harmless online (the same event time
//! overwrites), a duplicate row offline (collapsed by latest-per-record
//! reads). [`RetryConfig::run`] counts those retries
//! ([`Retried::unknown_outcome_retries`]), so that an ingest can report how
//! many rows may have offline duplicates.
//!
//! **Polling.** A poll is not a retry: it runs until the awaited state or
//! its own deadline. It takes its delays from a [`Backoff`] (the same
//! schedule and cap, with or without jitter) through [`Backoff::delay`] or
//! the endless iterator [`Backoff::delays`].
//!
//! ## Example
//!
//! ```
//! use std::time::Duration;
//! use fs_retry::{Classify, Jitter, RetryClass, RetryConfig};
//!
//! #[derive(Debug, PartialEq)]
//! enum CallError { Busy, Invalid }
//!
//! impl Classify for CallError {
//!     fn retry_class(&self) -> RetryClass {
//!         match self {
//!             CallError::Busy => RetryClass::Throttled,
//!             CallError::Invalid => RetryClass::Permanent,
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let policy = RetryConfig::default()
//!     .max_retries(5)
//!     .backoff(Duration::from_millis(10), Duration::from_millis(100));
//! let mut calls = 0;
//! let done = policy
//!     .run(|| {
//!         calls += 1;
//!         let n = calls;
//!         async move { if n < 3 { Err(CallError::Busy) } else { Ok(n) } }
//!     })
//!     .await;
//! assert_eq!((done.result, done.retries, done.gave_up), (Ok(3), 2, None));
//!
//! // A permanent error is not retried.
//! let failed = policy.run(|| async { Err::<(), _>(CallError::Invalid) }).await;
//! assert_eq!((failed.result, failed.retries), (Err(CallError::Invalid), 0));
//!
//! // The schedule alone, for polling: capped, here without jitter.
//! let polls: Vec<_> = policy.schedule.jitter(Jitter::None).delays().take(5).collect();
//! assert_eq!(polls, [10, 20, 40, 80, 100].map(Duration::from_millis));
//! # }
//! ```

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod config;

pub use backoff::{Backoff, Delays, InvalidBackoff, Jitter};
pub use config::{GaveUp, Retried, RetryConfig};

/// Whether a failed call may be retried, and what the failure says about
/// its effect: the one classification every retrying caller uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// Retrying cannot help (invalid input, not found, access denied, ...):
    /// the error is returned at once.
    Permanent,
    /// The service refused the call without applying it (throttling, a
    /// request left unprocessed): retried after a backoff; a retry cannot
    /// apply it twice.
    Throttled,
    /// The call failed with its outcome unknown (a 5xx, a timeout, a
    /// connection lost while the request was out): retried after a
    /// backoff, and counted, since the call may have been applied.
    Transient,
}

impl RetryClass {
    /// True for [`Throttled`](Self::Throttled) and
    /// [`Transient`](Self::Transient).
    pub fn is_retryable(self) -> bool {
        matches!(self, RetryClass::Throttled | RetryClass::Transient)
    }

    /// True for [`Transient`](Self::Transient): the failed call may still
    /// have been applied.
    pub fn outcome_unknown(self) -> bool {
        self == RetryClass::Transient
    }
}

/// Errors that know their [`RetryClass`]; [`RetryConfig::run`] retries
/// by it.
pub trait Classify {
    /// How a call that failed with this error may be retried.
    fn retry_class(&self) -> RetryClass;
}

impl<T: Classify + ?Sized> Classify for &T {
    fn retry_class(&self) -> RetryClass {
        (**self).retry_class()
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    fn retry_class(&self) -> RetryClass {
        (**self).retry_class()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttled_and_transient_are_retryable_and_only_transient_is_unknown() {
        use RetryClass::*;
        let seen: Vec<_> = [Permanent, Throttled, Transient]
            .into_iter()
            .map(|c| (c.is_retryable(), c.outcome_unknown()))
            .collect();
        assert_eq!(seen, [(false, false), (true, false), (true, true)]);
    }
}
