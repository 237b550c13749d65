//! Retries with exponential backoff and full jitter, in one place.
//!
//! Only errors the caller calls retryable are retried (for online stores,
//! `fs_online::Error::is_retryable`: throttling and transient failures).
//! The delay before retry `n` is a uniformly random duration between zero
//! and `min(max_backoff, initial_backoff * 2^(n-1))` ("full jitter"), so
//! that many writers throttled together do not come back together.
//!
//! Retries stop at `max_retries`, or at the total `deadline`: no retry is
//! made whose delay would end more than `deadline` after the first
//! attempt. An attempt already running is not cut short (the SDK's own
//! timeouts bound it), so that a write is never reported failed while it
//! may still be applied.
//!
//! **Unknown outcomes.** A retryable error can say that the write was not
//! applied (throttling: the service refused it) or leave it unknown (a
//! 5xx, a timeout, a connection that failed while the request was out: the
//! write may have landed and only its answer been lost). A retry after an
//! unknown outcome may write the row twice: harmless online (the same
//! event time overwrites), a duplicate row offline (collapsed by
//! latest-per-record reads). [`RetryConfig::run_classified`] counts those
//! retries ([`Retried::unknown_outcome_retries`]), so that an ingest can
//! report how many rows may have offline duplicates.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

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
    /// The longest a row may take from its first attempt: no retry is made
    /// whose delay would end later. `None`: only `max_retries` bounds it.
    pub deadline: Option<Duration>,
}

impl Default for RetryConfig {
    /// Up to 8 retries, delays capped at 50 ms doubling to 5 s, within 2
    /// minutes of the first attempt.
    fn default() -> Self {
        Self {
            max_retries: 8,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            deadline: Some(Duration::from_secs(120)),
        }
    }
}

/// Why retries of a retryable failure stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GaveUp {
    /// `max_retries` retries were made.
    Retries(u32),
    /// The next retry would have ended past the deadline; the retries made.
    Deadline(Duration, u32),
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GaveUp::Retries(n) => write!(f, "gave up after {n} retries"),
            GaveUp::Deadline(d, n) => write!(
                f,
                "gave up after {n} retries: the retry deadline of {d:?} would have passed"
            ),
        }
    }
}

/// What [`RetryConfig::run`] ended with.
#[derive(Debug)]
#[non_exhaustive]
pub struct Retried<T, E> {
    /// The last attempt's result.
    pub result: Result<T, E>,
    /// Retries made.
    pub retries: u32,
    /// Set when the last error was retryable but no retry was left.
    pub gave_up: Option<GaveUp>,
    /// Retries made after an attempt whose outcome was unknown (it may have
    /// been applied); at most `retries`.
    pub unknown_outcome_retries: u32,
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

    /// This config with a total deadline per row (see the module docs);
    /// `None` for none.
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
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

    /// Whether a retry may follow `retries` retries of a row first tried
    /// at `first_attempt`, and after what delay.
    pub fn next_retry(&self, retries: u32, first_attempt: Instant) -> Result<Duration, GaveUp> {
        let delay = self.delay(retries + 1);
        match self.give_up(retries, first_attempt, delay) {
            Some(gave_up) => Err(gave_up),
            None => Ok(delay),
        }
    }

    /// Why no retry may follow `retries` retries of a row first tried at
    /// `first_attempt` after `delay`; `None` when one may.
    pub fn give_up(&self, retries: u32, first_attempt: Instant, delay: Duration) -> Option<GaveUp> {
        if retries >= self.max_retries {
            return Some(GaveUp::Retries(retries));
        }
        match self.deadline {
            Some(deadline) if first_attempt.elapsed() + delay > deadline => {
                Some(GaveUp::Deadline(deadline, retries))
            }
            _ => None,
        }
    }

    /// Runs `attempt` until it succeeds, fails with an error that is not
    /// retryable, or no retry is left (retries or deadline).
    pub async fn run<T, E, F, Fut>(
        &self,
        is_retryable: impl Fn(&E) -> bool,
        attempt: F,
    ) -> Retried<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_classified(is_retryable, |_| false, attempt).await
    }

    /// [`RetryConfig::run`], counting the retries made after an error for
    /// which `outcome_unknown` is true (the attempt may have been applied:
    /// a 5xx, a timeout, a connection lost after sending) in
    /// [`Retried::unknown_outcome_retries`].
    pub async fn run_classified<T, E, F, Fut>(
        &self,
        is_retryable: impl Fn(&E) -> bool,
        outcome_unknown: impl Fn(&E) -> bool,
        mut attempt: F,
    ) -> Retried<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let first = Instant::now();
        let mut retries = 0;
        let mut unknown_outcome_retries = 0;
        loop {
            let result = attempt().await;
            match &result {
                Err(e) if is_retryable(e) => match self.next_retry(retries, first) {
                    Ok(delay) => {
                        retries += 1;
                        unknown_outcome_retries += u32::from(outcome_unknown(e));
                        tracing::debug!(retry = retries, ?delay, "retrying a retryable failure");
                        tokio::time::sleep(delay).await;
                    }
                    Err(gave_up) => {
                        return Retried {
                            result,
                            retries,
                            gave_up: Some(gave_up),
                            unknown_outcome_retries,
                        };
                    }
                },
                _ => {
                    return Retried {
                        result,
                        retries,
                        gave_up: None,
                        unknown_outcome_retries,
                    };
                }
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
        let r = c
            .run(
                |e: &&str| *e == "busy",
                || {
                    calls += 1;
                    async { Err::<(), _>("busy") }
                },
            )
            .await;
        assert_eq!((r.result, r.retries, calls), (Err("busy"), 3, 4));
        assert_eq!(r.gave_up, Some(GaveUp::Retries(3)));

        let mut calls = 0;
        let r = c
            .run(
                |e: &&str| *e == "busy",
                || {
                    calls += 1;
                    async { Err::<(), _>("bad") }
                },
            )
            .await;
        assert_eq!((r.result, r.retries, calls), (Err("bad"), 0, 1));
        assert_eq!(r.gave_up, None);

        let mut calls = 0;
        let r = c
            .run(
                |e: &&str| *e == "busy",
                || {
                    calls += 1;
                    let n = calls;
                    async move { if n < 3 { Err("busy") } else { Ok(n) } }
                },
            )
            .await;
        assert_eq!((r.result, r.retries), (Ok(3), 2));
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_ends_past_the_deadline() {
        // Every attempt takes 400 ms; delays are at most 100 ms; 1 s in all.
        let c = RetryConfig::default()
            .max_retries(100)
            .backoff(Duration::from_millis(100), Duration::from_millis(100))
            .deadline(Some(Duration::from_secs(1)));
        let start = Instant::now();
        let mut calls = 0;
        let r = c
            .run(
                |_: &&str| true,
                || {
                    calls += 1;
                    async {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        Err::<(), _>("busy")
                    }
                },
            )
            .await;
        let Some(GaveUp::Deadline(d, retries)) = r.gave_up else {
            panic!("{:?}", r.gave_up)
        };
        assert_eq!((d, retries), (Duration::from_secs(1), calls - 1));
        // Two or three attempts fit in the second (depending on the jitter);
        // none starts after it.
        assert!((2..=3).contains(&calls), "{calls} attempts");
        assert!(
            start.elapsed() <= Duration::from_millis(1400),
            "{:?}",
            start.elapsed()
        );
        let reason = format!("{}", r.gave_up.unwrap());
        assert!(reason.contains("deadline of 1s"), "{reason}");
        // Without a deadline, the retry count decides.
        let c = c.deadline(None).max_retries(4);
        let r = c
            .run(|_: &&str| true, || async { Err::<(), _>("busy") })
            .await;
        assert_eq!(r.gave_up, Some(GaveUp::Retries(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_after_an_unknown_outcome_are_counted_apart() {
        // "busy" (throttled: not applied), "lost" (a 5xx or timeout: maybe
        // applied), then success.
        let c = RetryConfig::default().max_retries(10);
        let script = ["busy", "lost", "busy", "lost", "lost"];
        let mut calls = 0;
        let r = c
            .run_classified(
                |_: &&str| true,
                |e: &&str| *e == "lost",
                || {
                    let step = script.get(calls).copied();
                    calls += 1;
                    async move { step.map_or(Ok(()), Err) }
                },
            )
            .await;
        assert_eq!((r.result, r.retries), (Ok(()), 5));
        assert_eq!(r.unknown_outcome_retries, 3);

        // Giving up after an unknown outcome is no retry, so not counted.
        let c = RetryConfig::default().max_retries(1);
        let r = c
            .run_classified(
                |_: &&str| true,
                |e: &&str| *e == "lost",
                || async { Err::<(), _>("lost") },
            )
            .await;
        assert_eq!((r.retries, r.unknown_outcome_retries), (1, 1));
        assert_eq!(r.gave_up, Some(GaveUp::Retries(1)));

        // Plain `run` counts none.
        let r = c
            .run(|_: &&str| true, || async { Err::<(), _>("lost") })
            .await;
        assert_eq!((r.retries, r.unknown_outcome_retries), (1, 0));
    }
}
