//! The delay schedule: exponential growth up to a cap, with or without
//! full jitter. Retries ([`RetryConfig`](crate::RetryConfig)) and polls
//! (Athena's GetQueryExecution) both take their delays from a [`Backoff`],
//! so that there is one formula, one cap and one jitter in the workspace.

use std::time::Duration;

/// Whether delays are randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Each delay is its cap: a fixed, predictable schedule (polling one
    /// query, tests that count calls).
    None,
    /// Each delay is uniformly random between zero and its cap ("full
    /// jitter"), so that callers throttled together spread out.
    Full,
}

/// A schedule of delays: the cap of the `n`-th delay (1-based) is
/// `min(max, initial · multiplier^(n-1))`; with [`Jitter::Full`] the delay
/// itself is uniformly random in `[0, cap]`, with [`Jitter::None`] it is the
/// cap.
///
/// ```
/// use std::time::Duration;
/// use fs_retry::{Backoff, Jitter};
/// let ms = Duration::from_millis;
/// let fixed = Backoff::new(ms(100), ms(500), 2.0);
/// let delays: Vec<_> = fixed.delays().take(5).collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// let jittered = fixed.jitter(Jitter::Full);
/// assert!(jittered.delays().take(100).zip(fixed.delays()).all(|(d, cap)| d <= cap));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The cap of the first delay.
    pub initial: Duration,
    /// The cap of any delay.
    pub max: Duration,
    /// The factor between the caps of two successive delays (at least 1).
    pub multiplier: f64,
    /// Whether delays are randomised below their cap.
    pub jitter: Jitter,
}

impl Default for Backoff {
    /// The retry schedule: 50 ms doubling up to 5 s, full jitter.
    fn default() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(5), 2.0).jitter(Jitter::Full)
    }
}

impl Backoff {
    /// A schedule without jitter from its three parameters (see
    /// [`Backoff::validate`]).
    pub const fn new(initial: Duration, max: Duration, multiplier: f64) -> Self {
        Self {
            initial,
            max,
            multiplier,
            jitter: Jitter::None,
        }
    }

    /// This schedule with another jitter.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The cap of the `n`-th delay (1-based; 0 counts as 1):
    /// `min(max, initial · multiplier^(n-1))`, saturating at `max`.
    pub fn delay_cap(&self, n: u32) -> Duration {
        let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        // In nanoseconds, where doubling whole milliseconds stays exact.
        let nanos = self.initial.as_nanos() as f64 * self.multiplier.powi(exponent);
        if !nanos.is_finite() || nanos >= self.max.as_nanos() as f64 {
            return self.max;
        }
        Duration::from_nanos(nanos.round() as u64).min(self.max)
    }

    /// The `n`-th delay (1-based): its cap, or with [`Jitter::Full`] a
    /// uniformly random duration between zero and its cap.
    pub fn delay(&self, n: u32) -> Duration {
        let cap = self.delay_cap(n);
        match self.jitter {
            Jitter::None => cap,
            Jitter::Full => cap.mul_f64(rand::random::<f64>()),
        }
    }

    /// The delays in order, without end: the schedule of a poll.
    pub fn delays(&self) -> Delays {
        Delays {
            backoff: *self,
            next: 1,
        }
    }

    /// Checks that the schedule makes sense: a first delay above zero, a
    /// cap no shorter than it, a finite multiplier of at least 1.
    pub fn validate(&self) -> Result<(), InvalidBackoff> {
        let reason = if self.initial.is_zero() {
            "the initial delay must be more than zero".to_owned()
        } else if self.max < self.initial {
            format!(
                "the max delay {:?} is shorter than the initial delay {:?}",
                self.max, self.initial
            )
        } else if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            format!(
                "the multiplier must be a finite number >= 1, not {}",
                self.multiplier
            )
        } else {
            return Ok(());
        };
        Err(InvalidBackoff { reason })
    }
}

/// The endless iterator of a [`Backoff`]'s delays ([`Backoff::delays`]).
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    next: u32,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.backoff.delay(self.next);
        self.next = self.next.saturating_add(1);
        Some(delay)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

/// A [`Backoff`] that [`Backoff::validate`] refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid backoff: {reason}")]
pub struct InvalidBackoff {
    /// What is wrong.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn caps_grow_by_the_multiplier_and_stop_at_max() {
        let b = Backoff::new(ms(10), ms(100), 3.0);
        let d: Vec<Duration> = b.delays().take(5).collect();
        assert_eq!(d, [ms(10), ms(30), ms(90), ms(100), ms(100)]);
        // A multiplier of 1 is a fixed interval.
        let fixed = Backoff::new(ms(7), ms(1000), 1.0);
        assert!(fixed.delays().take(20).all(|d| d == ms(7)));
        // Huge exponents saturate at max instead of overflowing, as does 0.
        assert_eq!(b.delay_cap(u32::MAX), ms(100));
        assert_eq!(b.delay_cap(0), ms(10));
        let huge = Backoff::new(ms(1), Duration::MAX, 2.0);
        assert_eq!(huge.delay_cap(u32::MAX), Duration::MAX);
        // Fractional multipliers stay exact on whole milliseconds.
        let athena = Backoff::new(ms(200), ms(5000), 1.5);
        assert_eq!(athena.delay(2), ms(300));
        assert_eq!(athena.delay(3), ms(450));
    }

    #[test]
    fn doubling_caps_are_exact_and_bounded_by_max() {
        let b = Backoff::default();
        assert_eq!(b.multiplier, 2.0);
        let caps: Vec<Duration> = (1..=10).map(|n| b.delay_cap(n)).collect();
        assert_eq!(
            caps,
            [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map(ms)
        );
        for pair in caps.windows(2) {
            assert!(pair[1] <= pair[0] * 2 && pair[1] >= pair[0], "{pair:?}");
        }
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_cap_and_spreads() {
        let b = Backoff::new(ms(100), ms(400), 2.0).jitter(Jitter::Full);
        for n in 1..=6 {
            let cap = b.delay_cap(n);
            let samples: Vec<Duration> = (0..2000).map(|_| b.delay(n)).collect();
            assert!(samples.iter().all(|d| *d <= cap), "a delay above {cap:?}");
            // Uniform over [0, cap]: some in the lowest and some in the
            // highest quarter (each missed with probability 0.75^2000).
            assert!(samples.iter().any(|d| *d < cap / 4), "none below cap/4");
            assert!(
                samples.iter().any(|d| *d > cap * 3 / 4),
                "none above 3cap/4"
            );
        }
        // Without jitter a delay is its cap.
        let fixed = b.jitter(Jitter::None);
        assert!((1..=6).all(|n| fixed.delay(n) == fixed.delay_cap(n)));
    }

    #[test]
    fn invalid_backoffs_are_refused_with_the_reason() {
        let reason = |b: Backoff| b.validate().unwrap_err().to_string();
        assert!(Backoff::default().validate().is_ok());
        let zero = reason(Backoff::new(Duration::ZERO, ms(10), 2.0));
        assert!(zero.contains("initial delay"), "{zero}");
        let short = reason(Backoff::new(ms(10), ms(5), 2.0));
        assert!(short.contains("shorter"), "{short}");
        let shrink = reason(Backoff::new(ms(10), ms(50), 0.5));
        assert!(shrink.contains("multiplier"), "{shrink}");
        let nan = reason(Backoff::new(ms(10), ms(50), f64::NAN));
        assert!(nan.contains("multiplier"), "{nan}");
    }
}
