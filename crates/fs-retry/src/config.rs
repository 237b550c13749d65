//! [`RetryConfig`]: how many retries, after which delays, within what
//! deadline; and the loop that applies it ([`RetryConfig::run`]).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::{Backoff, Delays};
use crate::{Classify, RetryClass};

/// How a call that failed with a retryable error is retried (see the
/// crate docs for the policy).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The delays between attempts: the cap of the first
    /// ([`Backoff::initial`]), the cap of any ([`Backoff::max`]), the
    /// growth, and full jitter by default.
    pub schedule: Backoff,
    /// The longest a call may take from its first attempt: no retry is
    /// made whose delay would end later. `None`: only `max_retries` bounds
    /// it.
    pub deadline: Option<Duration>,
}

impl Default for RetryConfig {
    /// Up to 8 retries, delays capped at 50 ms doubling to 5 s with full
    /// jitter, within 2 minutes of the first attempt.
    fn default() -> Self {
        Self {
            max_retries: 8,
            schedule: Backoff::default(),
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
    /// Retries made after an attempt whose outcome was unknown
    /// ([`RetryClass::Transient`]: it may have been applied); at most
    /// `retries`.
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

    /// This config with a total deadline per call (see the crate docs);
    /// `None` for none.
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// This config with other delay caps: `initial` for the first delay,
    /// `max` (at least `initial`) for any.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.schedule.initial = initial;
        self.schedule.max = max.max(initial);
        self
    }

    /// This config with another delay schedule.
    pub fn schedule(mut self, schedule: Backoff) -> Self {
        self.schedule = schedule;
        self
    }

    /// The cap of the delay before retry `retry` (1-based).
    pub fn delay_cap(&self, retry: u32) -> Duration {
        self.schedule.delay_cap(retry)
    }

    /// The delay (with the schedule's jitter) before retry `retry`
    /// (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        self.schedule.delay(retry)
    }

    /// The delays before each of the `max_retries` retries, in order (the
    /// deadline, which depends on the time attempts take, is not applied).
    pub fn delays(&self) -> std::iter::Take<Delays> {
        self.schedule.delays().take(self.max_retries as usize)
    }

    /// Whether a retry may follow `retries` retries of a call first tried
    /// at `first_attempt`, and after what delay.
    pub fn next_retry(&self, retries: u32, first_attempt: Instant) -> Result<Duration, GaveUp> {
        let delay = self.delay(retries + 1);
        match self.give_up(retries, first_attempt, delay) {
            Some(gave_up) => Err(gave_up),
            None => Ok(delay),
        }
    }

    /// Why no retry may follow `retries` retries of a call first tried at
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

    /// Runs `attempt` until it succeeds, fails with an error whose
    /// [`Classify::retry_class`] is [`RetryClass::Permanent`], or no retry
    /// is left (retries or deadline). Retries after a
    /// [`RetryClass::Transient`] error are counted in
    /// [`Retried::unknown_outcome_retries`].
    pub async fn run<T, E, F, Fut>(&self, attempt: F) -> Retried<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_classified(E::retry_class, attempt).await
    }

    /// [`RetryConfig::run`] with the errors classified by `classify`
    /// rather than by their [`Classify`] impl (for errors that have none,
    /// or a call whose errors mean something else).
    pub async fn run_classified<T, E, F, Fut>(
        &self,
        classify: impl Fn(&E) -> RetryClass,
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
            let class = match &result {
                Err(e) => classify(e),
                Ok(_) => RetryClass::Permanent,
            };
            let gave_up = if class.is_retryable() {
                match self.next_retry(retries, first) {
                    Ok(delay) => {
                        retries += 1;
                        unknown_outcome_retries += u32::from(class.outcome_unknown());
                        tracing::debug!(retry = retries, ?delay, ?class, "retrying a failed call");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    Err(gave_up) => Some(gave_up),
                }
            } else {
                None
            };
            return Retried {
                result,
                retries,
                gave_up,
                unknown_outcome_retries,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Jitter;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// "busy": throttled; "lost": transient (maybe applied); else permanent.
    fn class(e: &&str) -> RetryClass {
        match *e {
            "busy" => RetryClass::Throttled,
            "lost" => RetryClass::Transient,
            _ => RetryClass::Permanent,
        }
    }

    /// Runs `c` over an attempt that always fails with `error`, and returns
    /// the result with the (virtual) times at which the attempts started.
    async fn attempt_times(
        c: &RetryConfig,
        error: &'static str,
    ) -> (Retried<(), &'static str>, Vec<Duration>) {
        let start = Instant::now();
        let mut times = Vec::new();
        let r = c
            .run_classified(class, || {
                times.push(start.elapsed());
                async move { Err(error) }
            })
            .await;
        (r, times)
    }

    fn gaps(times: &[Duration]) -> Vec<Duration> {
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let c = RetryConfig::default().backoff(ms(10), ms(50));
        assert_eq!(c.delay_cap(1), ms(10));
        assert_eq!(c.delay_cap(2), ms(20));
        assert_eq!(c.delay_cap(3), ms(40));
        assert_eq!(c.delay_cap(4), ms(50));
        assert_eq!(c.delay_cap(100), ms(50));
        for n in 1..10 {
            assert!(c.delay(n) <= c.delay_cap(n));
        }
        // A cap below the first delay is raised to it.
        assert_eq!(
            RetryConfig::default().backoff(ms(30), ms(10)).delay_cap(5),
            ms(30)
        );
        // `delays` is one per retry.
        assert_eq!(c.clone().max_retries(3).delays().count(), 3);
        assert_eq!(RetryConfig::none().delays().count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_follow_the_doubling_schedule_without_jitter() {
        let c = RetryConfig::default()
            .max_retries(6)
            .schedule(Backoff::new(ms(10), ms(100), 2.0))
            .deadline(None);
        let (r, times) = attempt_times(&c, "busy").await;
        assert_eq!(r.retries, 6);
        assert_eq!(gaps(&times), [10, 20, 40, 80, 100, 100].map(ms));
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_waits_never_exceed_their_cap_nor_the_max() {
        let c = RetryConfig::default()
            .max_retries(12)
            .backoff(ms(10), ms(200))
            .deadline(None);
        assert_eq!(c.schedule.jitter, Jitter::Full);
        let mut total = Duration::ZERO;
        for _ in 0..50 {
            let (r, times) = attempt_times(&c, "busy").await;
            assert_eq!(r.retries, 12);
            for (n, gap) in (1..).zip(gaps(&times)) {
                assert!(gap <= c.delay_cap(n), "retry {n} waited {gap:?}");
                assert!(gap <= ms(200), "retry {n} waited {gap:?}");
                total += gap;
            }
        }
        // Jittered, not the caps: the caps of one run sum to 1,710 ms.
        let caps: Duration = (1..=12).map(|n| c.delay_cap(n)).sum();
        assert_eq!(caps, ms(1710));
        assert!(
            total < caps * 50 * 3 / 4,
            "{total:?}: delays look unjittered"
        );
        assert!(total > caps * 50 / 4, "{total:?}: delays look too short");
    }

    #[tokio::test(start_paused = true)]
    async fn only_retryable_errors_are_retried_until_the_limit() {
        let c = RetryConfig::default().max_retries(3);
        let mut calls = 0;
        let r = c
            .run_classified(class, || {
                calls += 1;
                async { Err::<(), _>("busy") }
            })
            .await;
        assert_eq!((r.result, r.retries, calls), (Err("busy"), 3, 4));
        assert_eq!(r.gave_up, Some(GaveUp::Retries(3)));
        assert_eq!(r.gave_up.unwrap().to_string(), "gave up after 3 retries");

        // A permanent error: returned at once, no wait.
        let start = Instant::now();
        let mut calls = 0;
        let r = c
            .run_classified(class, || {
                calls += 1;
                async { Err::<(), _>("bad") }
            })
            .await;
        assert_eq!((r.result, r.retries, calls), (Err("bad"), 0, 1));
        assert_eq!(r.gave_up, None);
        assert_eq!(start.elapsed(), Duration::ZERO);

        let mut calls = 0;
        let r = c
            .run_classified(class, || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("busy") } else { Ok(n) } }
            })
            .await;
        assert_eq!((r.result, r.retries, r.gave_up), (Ok(3), 2, None));

        // No retries at all.
        let (r, times) = attempt_times(&RetryConfig::none(), "busy").await;
        assert_eq!((times.len(), r.gave_up), (1, Some(GaveUp::Retries(0))));
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_ends_past_the_deadline() {
        // Every attempt takes 400 ms; delays are at most 100 ms; 1 s in all.
        let c = RetryConfig::default()
            .max_retries(100)
            .backoff(ms(100), ms(100))
            .deadline(Some(Duration::from_secs(1)));
        let start = Instant::now();
        let mut calls = 0;
        let r = c
            .run_classified(class, || {
                calls += 1;
                async {
                    tokio::time::sleep(ms(400)).await;
                    Err::<(), _>("busy")
                }
            })
            .await;
        let Some(GaveUp::Deadline(d, retries)) = r.gave_up else {
            panic!("{:?}", r.gave_up)
        };
        assert_eq!((d, retries), (Duration::from_secs(1), calls - 1));
        // Two or three attempts fit in the second (depending on the jitter);
        // none starts after it.
        assert!((2..=3).contains(&calls), "{calls} attempts");
        assert!(start.elapsed() <= ms(1400), "{:?}", start.elapsed());
        let reason = format!("{}", r.gave_up.unwrap());
        assert!(reason.contains("deadline of 1s"), "{reason}");

        // Without jitter, exactly: attempts start at 0, 500 and 1,000 ms
        // (the second retry's delay ends at 1,000 ms, on the deadline); a
        // third retry would end at 1,500 ms, past it.
        let fixed = c.clone().schedule(Backoff::new(ms(100), ms(100), 2.0));
        let mut starts = Vec::new();
        let start = Instant::now();
        let r = fixed
            .run_classified(class, || {
                starts.push(start.elapsed());
                async {
                    tokio::time::sleep(ms(400)).await;
                    Err::<(), _>("busy")
                }
            })
            .await;
        assert_eq!(starts, [0, 500, 1000].map(ms));
        assert_eq!(r.gave_up, Some(GaveUp::Deadline(Duration::from_secs(1), 2)));
        // A retry that ends exactly at the deadline is still made.
        let edge = fixed.clone().deadline(Some(ms(900)));
        let (r, times) = attempt_times(&edge.backoff(ms(300), ms(300)), "busy").await;
        assert_eq!(times, [0, 300, 600, 900].map(ms));
        assert_eq!(r.gave_up, Some(GaveUp::Deadline(ms(900), 3)));

        // Without a deadline, the retry count decides.
        let c = c.deadline(None).max_retries(4);
        let (r, _) = attempt_times(&c, "busy").await;
        assert_eq!(r.gave_up, Some(GaveUp::Retries(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_after_an_unknown_outcome_are_counted_apart() {
        // Throttled (not applied), transient (maybe applied), then success.
        let c = RetryConfig::default().max_retries(10);
        let script = ["busy", "lost", "busy", "lost", "lost"];
        let mut calls = 0;
        let r = c
            .run_classified(class, || {
                let step = script.get(calls).copied();
                calls += 1;
                async move { step.map_or(Ok(()), Err) }
            })
            .await;
        assert_eq!((r.result, r.retries), (Ok(()), 5));
        assert_eq!(r.unknown_outcome_retries, 3);

        // Giving up after an unknown outcome is no retry, so not counted.
        let (r, _) = attempt_times(&RetryConfig::default().max_retries(1), "lost").await;
        assert_eq!((r.retries, r.unknown_outcome_retries), (1, 1));
        assert_eq!(r.gave_up, Some(GaveUp::Retries(1)));

        // Throttled retries are not counted.
        let (r, _) = attempt_times(&RetryConfig::default().max_retries(4), "busy").await;
        assert_eq!((r.retries, r.unknown_outcome_retries), (4, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn run_classifies_by_the_errors_own_impl() {
        #[derive(Debug, PartialEq)]
        struct Lost;
        impl Classify for Lost {
            fn retry_class(&self) -> RetryClass {
                RetryClass::Transient
            }
        }
        let c = RetryConfig::default().max_retries(2);
        let r = c.run(|| async { Err::<(), _>(Lost) }).await;
        assert_eq!(
            (r.result, r.retries, r.unknown_outcome_retries),
            (Err(Lost), 2, 2)
        );
        // Boxed and borrowed errors classify as the error they hold.
        assert_eq!(Box::new(Lost).retry_class(), RetryClass::Transient);
        assert_eq!(
            <&Lost as Classify>::retry_class(&&Lost),
            RetryClass::Transient
        );
    }
}
