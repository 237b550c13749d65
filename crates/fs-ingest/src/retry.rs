//! Retries with exponential backoff and full jitter, in one place.
//!
//! Only errors the caller calls retryable are retried (for online stores,
//! `fs_online::Error::is_retryable`: throttling and transient failures).
//! The delay before retry `n` is a uniformly random duration between zero
//! and `min(max_backoff, initial_backoff * 2^(n-1))` ("full jitter"), so
//! that many writers throttled together do not come back together.

use std::future::Future;
use std::time::Duration;

/// How a sink retries a write that failed with a retryable error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The cap of the first delay.
    pub initial_backoff: Duration,
    /// The cap of any delay.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    /// Up to 8 retries, delays capped at 50 ms doubling to 5 s.
    fn default() -> Self {
        Self {
            max_retries: 8,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryConfig {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// This config with another number of retries.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// This config with other delay caps.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The cap of the delay before retry `retry` (1-based).
    pub fn delay_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(30));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// A random delay (full jitter) before retry `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_cap(retry).mul_f64(rand::random::<f64>())
    }

    /// Runs `attempt` until it succeeds, fails with an error that is not
    /// retryable, or the retries run out. Returns the last result and how
    /// many retries were made.
    pub async fn run<T, E, F, Fut>(
        &self,
        is_retryable: impl Fn(&E) -> bool,
        mut attempt: F,
    ) -> (Result<T, E>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Err(e) if retries < self.max_retries && is_retryable(&e) => {
                    retries += 1;
                    let delay = self.delay(retries);
                    tracing::debug!(retry = retries, ?delay, "retrying a retryable failure");
                    tokio::time::sleep(delay).await;
                }
                other => return (other, retries),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let c =
            RetryConfig::default().backoff(Duration::from_millis(10), Duration::from_millis(50));
        assert_eq!(c.delay_cap(1), Duration::from_millis(10));
        assert_eq!(c.delay_cap(2), Duration::from_millis(20));
        assert_eq!(c.delay_cap(3), Duration::from_millis(40));
        assert_eq!(c.delay_cap(4), Duration::from_millis(50));
        assert_eq!(c.delay_cap(100), Duration::from_millis(50));
        for n in 1..10 {
            assert!(c.delay(n) <= c.delay_cap(n));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_retryable_errors_are_retried_until_the_limit() {
        let c = RetryConfig::default().max_retries(3);
        let mut calls = 0;
        let (r, retries) = c
            .run(
                |e: &&str| *e == "busy",
                || {
                    calls += 1;
                    async { Err::<(), _>("busy") }
                },
            )
            .await;
        assert_eq!((r, retries, calls), (Err("busy"), 3, 4));

        let mut calls = 0;
        let (r, retries) = c
            .run(
                |e: &&str| *e == "busy",
                || {
                    calls += 1;
                    async { Err::<(), _>("bad") }
                },
            )
            .await;
        assert_eq!((r, retries, calls), (Err("bad"), 0, 1));

        let mut calls = 0;
        let (r, retries) = c
            .run(
                |e: &&str| *e == "busy",
                || {
                    calls += 1;
                    let n = calls;
                    async move { if n < 3 { Err("busy") } else { Ok(n) } }
                },
            )
            .await;
        assert_eq!((r, retries), (Ok(3), 2));
    }
}
