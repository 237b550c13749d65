//! Injected waits that last what they are asked to, within a fraction of
//! a millisecond.
//!
//! tokio's timer counts whole milliseconds and rounds each deadline up, so
//! `tokio::time::sleep(10 ms)` ends 10 to 11 ms later, more when the
//! runtime is busy. An injected latency is what benchmarks divide by (the
//! AWS sink's nominal bound is the requests in flight over the injected
//! latency), so that error would be charged to the client: half a
//! millisecond is 5% of a 10 ms latency. A wait here sleeps on tokio's
//! timer until [`COARSE_MARGIN`] before its deadline, then hands the rest
//! to one timer thread, which sleeps to the deadline on the operating
//! system's timer (microseconds) and wakes the request's task.
//!
//! A wait never ends before its deadline. The timer thread is started by
//! the first wait and lives as long as the process; it sleeps when no wait
//! is pending.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The part of a wait left to the timer thread: more than tokio's timer
/// can overshoot by on an idle runtime (a millisecond), so that the coarse
/// sleep ends before the deadline.
const COARSE_MARGIN: Duration = Duration::from_millis(2);

/// Waits `duration`, ending within a fraction of a millisecond after it.
pub(crate) async fn sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    if let Some(coarse) = duration.checked_sub(COARSE_MARGIN) {
        tokio::time::sleep(coarse).await;
    }
    if Instant::now() >= deadline {
        return;
    }
    let (wake, woken) = oneshot::channel();
    timer().add(deadline, wake);
    // The timer thread never drops a wait before its deadline; if it were
    // gone, sleeping out the rest on tokio's timer still keeps the promise.
    if woken.await.is_err() {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// The process's timer thread.
fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::default());
        let started = std::thread::Builder::new()
            .name("fs-server-timer".into())
            .spawn(move || timer.run());
        if let Err(e) = started {
            // Every wait then falls back to tokio's timer (see `sleep`).
            tracing::warn!("could not start the timer thread of injected latency: {e}");
            timer.close();
        }
        timer
    })
}

/// A pending wait: when it ends and whom to wake.
struct Due {
    at: Instant,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

/// The pending waits, earliest first, and whether the thread is gone.
#[derive(Default)]
struct Pending {
    waits: BinaryHeap<Reverse<Due>>,
    closed: bool,
}

/// The timer thread's queue.
#[derive(Default)]
struct Timer {
    pending: Mutex<Pending>,
    changed: Condvar,
}

impl Timer {
    /// Queues a wait ending at `at`; wakes the thread when it is the
    /// earliest.
    fn add(&self, at: Instant, wake: oneshot::Sender<()>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.closed {
            // Dropping `wake` sends the waiter to tokio's timer.
            return;
        }
        let earliest = pending.waits.peek().is_none_or(|Reverse(d)| at < d.at);
        pending.waits.push(Reverse(Due { at, wake }));
        drop(pending);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Marks the thread gone, dropping every pending wait (their waiters
    /// finish on tokio's timer).
    fn close(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.closed = true;
        pending.waits.clear();
    }

    /// Wakes each wait at its deadline, forever.
    fn run(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while pending.waits.peek().is_some_and(|Reverse(d)| d.at <= now) {
                if let Some(Reverse(due)) = pending.waits.pop() {
                    // A waiter that went away (its request was cancelled)
                    // needs no wake-up.
                    let _ = due.wake.send(());
                }
            }
            pending = match pending.waits.peek() {
                Some(Reverse(next)) => {
                    let left = next.at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(pending, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_never_ends_before_its_deadline() {
        let mut waits = tokio::task::JoinSet::new();
        for ms in [0, 1, 2, 3, 7, 10, 25] {
            for _ in 0..20 {
                waits.spawn(async move {
                    let asked = Duration::from_millis(ms);
                    let started = Instant::now();
                    sleep(asked).await;
                    (asked, started.elapsed())
                });
            }
        }
        let mut ended = 0;
        while let Some(done) = waits.join_next().await {
            let (asked, took) = done.expect("a wait task");
            assert!(took >= asked, "a wait of {asked:?} ended after {took:?}");
            ended += 1;
        }
        assert_eq!(ended, 140);
    }
}
