//! A sync's connection slots, and how many there are: one slot per GET in
//! flight (a whole object or a part), starting at
//! `SyncOptions::concurrency` and growing toward
//! `SyncOptions::max_concurrency` while more connections still bring more
//! bytes per second ([`Tuner`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// A sync's connection slots: one per GET in flight, growing from the
/// sync's `concurrency` toward its `max_concurrency` while that still
/// brings more bytes per second ([`Tuner`]).
#[derive(Debug, Clone)]
pub(crate) struct Slots(Arc<SlotsInner>);

#[derive(Debug)]
struct SlotsInner {
    semaphore: Semaphore,
    /// Slots given out so far (the semaphore's size).
    size: AtomicUsize,
    /// Body bytes received by every GET so far.
    received: AtomicU64,
}

impl Slots {
    /// `n` slots (at least 1).
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1);
        Slots(Arc::new(SlotsInner {
            semaphore: Semaphore::new(n),
            size: AtomicUsize::new(n),
            received: AtomicU64::new(0),
        }))
    }

    /// Waits for a free slot; it is free again when the permit drops.
    pub(crate) async fn take(&self) -> SemaphorePermit<'_> {
        self.0
            .semaphore
            .acquire()
            .await
            .expect("the slots are never closed")
    }

    /// Counts `n` body bytes received.
    pub(crate) fn received(&self, n: usize) {
        self.0.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Slots there are now.
    pub(crate) fn size(&self) -> usize {
        self.0.size.load(Ordering::Relaxed)
    }

    /// Whether every slot is taken.
    fn busy(&self) -> bool {
        self.0.semaphore.available_permits() == 0
    }

    fn grow(&self, by: usize) {
        self.0.semaphore.add_permits(by);
        self.0.size.fetch_add(by, Ordering::Relaxed);
    }

    /// Grows the slots with `tuner`, one decision per [`TUNE_WINDOW`],
    /// until the tuner settles; run it beside the downloads and drop it
    /// when they are done.
    pub(crate) async fn tune(&self, mut tuner: Tuner) {
        let mut last = self.0.received.load(Ordering::Relaxed);
        let mut at = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(TUNE_WINDOW).await;
            let now = tokio::time::Instant::now();
            let received = self.0.received.load(Ordering::Relaxed);
            let rate = (received - last) as f64 / (now - at).as_secs_f64();
            (last, at) = (received, now);
            match tuner.decide(rate, self.busy(), self.size()) {
                Decision::Grow(by) => {
                    tracing::debug!(rate, slots = self.size() + by, "more connections");
                    self.grow(by);
                }
                Decision::Hold => {}
                Decision::Settled => return,
            }
        }
    }
}

/// How long the tuner measures before each decision: long enough for
/// several round trips to S3, short enough to settle within the first
/// seconds of a large sync.
pub(crate) const TUNE_WINDOW: Duration = Duration::from_millis(250);

/// What the tuner does after a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Add this many slots.
    Grow(usize),
    /// Keep the slots, measure again.
    Hold,
    /// Stop tuning: more connections no longer bring more bytes.
    Settled,
}

/// Grows the connections while each growth still raises the rate: a hill
/// climb that only goes up. After a window with every slot busy, it adds
/// half as many again (at least one) up to `max`; when the window after a
/// growth is not at least [`Tuner::GAIN`] faster than the best before it,
/// the link (or S3, or the machine) is the limit, and it settles. Windows
/// with free slots (too few objects or parts left to fill them) say
/// nothing about the link and are skipped.
#[derive(Debug, Clone)]
pub(crate) struct Tuner {
    max: usize,
    /// The best rate before the last growth, if one is being judged.
    before: Option<f64>,
    best: f64,
}

impl Tuner {
    /// The least gain, over the best rate before it, that a growth must
    /// bring for the next one to be tried.
    pub(crate) const GAIN: f64 = 1.1;

    /// A tuner growing the slots up to `max`.
    pub(crate) fn new(max: usize) -> Self {
        Tuner {
            max,
            before: None,
            best: 0.0,
        }
    }

    /// The decision after a window that moved `rate` bytes per second,
    /// with every slot `busy` or not, and `size` slots.
    pub(crate) fn decide(&mut self, rate: f64, busy: bool, size: usize) -> Decision {
        if let Some(before) = self.before.take()
            && rate < before * Self::GAIN
        {
            return Decision::Settled;
        }
        self.best = self.best.max(rate);
        if size >= self.max {
            return Decision::Settled;
        }
        if !busy {
            return Decision::Hold;
        }
        self.before = Some(self.best);
        Decision::Grow((size / 2).max(1).min(self.max - size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tuner_grows_while_each_growth_pays_and_settles_when_one_does_not() {
        let mut t = Tuner::new(64);
        // Busy at 16 slots: grow by half.
        assert_eq!(t.decide(100.0, true, 16), Decision::Grow(8));
        // 24 slots brought 40% more: grow again.
        assert_eq!(t.decide(140.0, true, 24), Decision::Grow(12));
        // 36 slots brought 5% more: the link is the limit.
        assert_eq!(t.decide(147.0, true, 36), Decision::Settled);

        // Free slots say nothing about the link: hold, then grow when busy.
        let mut t = Tuner::new(8);
        assert_eq!(t.decide(50.0, false, 2), Decision::Hold);
        assert_eq!(t.decide(50.0, true, 2), Decision::Grow(1));
        assert_eq!(t.decide(80.0, true, 3), Decision::Grow(1));
        assert_eq!(t.decide(110.0, true, 4), Decision::Grow(2));
        assert_eq!(t.decide(150.0, true, 6), Decision::Grow(2));
        // At the maximum it settles, even if the last growth paid.
        assert_eq!(t.decide(200.0, true, 8), Decision::Settled);

        // A growth judged against the best rate before it, not the last.
        let mut t = Tuner::new(100);
        assert_eq!(t.decide(100.0, true, 10), Decision::Grow(5));
        assert_eq!(t.decide(105.0, true, 15), Decision::Settled);
    }

    #[tokio::test(start_paused = true)]
    async fn slots_grow_while_the_bytes_per_second_grow_then_settle() {
        let slots = Slots::new(2);
        // Every slot stays taken, as in a sync with more to fetch.
        let keeper = tokio::spawn({
            let slots = slots.clone();
            async move {
                loop {
                    std::mem::forget(slots.take().await);
                }
            }
        });
        let tuning = tokio::spawn({
            let slots = slots.clone();
            async move { slots.tune(Tuner::new(8)).await }
        });
        // More bytes each window while slots are added, then no more.
        for received in [1_000, 2_000, 3_000, 3_000] {
            slots.received(received);
            tokio::time::sleep(TUNE_WINDOW).await;
        }
        tokio::time::timeout(TUNE_WINDOW * 8, tuning)
            .await
            .expect("the tuner settles")
            .unwrap();
        keeper.abort();
        assert!((3..=8).contains(&slots.size()), "{}", slots.size());
    }
}
