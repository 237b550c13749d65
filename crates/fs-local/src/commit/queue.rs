//! The commit queue: writes waiting for a commit, the writer that leads
//! it, and what each job does and becomes. The transaction itself, over
//! the store's tables, is the parent module's; this one knows no table and
//! no store, so that the store can hold a queue.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};

use crate::error::{Error, Result};

/// Online puts of one job: identifiers and encoded values in one buffer.
#[derive(Debug, Default)]
pub(crate) struct OnlinePuts {
    buf: Vec<u8>,
    puts: Vec<OnlinePut>,
}

#[derive(Debug)]
struct OnlinePut {
    id: Range<usize>,
    value: Range<usize>,
    event_time_ms: i64,
}

impl OnlinePuts {
    pub(crate) fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            puts: Vec::with_capacity(rows),
        }
    }

    /// Adds a put of `id` at `event_time_ms`; `encode` appends its value.
    pub(crate) fn push(&mut self, id: &str, event_time_ms: i64, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(id.as_bytes());
        let mid = self.buf.len();
        encode(&mut self.buf);
        self.puts.push(OnlinePut {
            id: start..mid,
            value: mid..self.buf.len(),
            event_time_ms,
        });
    }

    /// Each put, in order: its identifier, its encoded value and its
    /// event time.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8], i64)> {
        self.puts
            .iter()
            .map(|p| (self.id(p), &self.buf[p.value.clone()], p.event_time_ms))
    }

    fn id(&self, p: &OnlinePut) -> &str {
        std::str::from_utf8(&self.buf[p.id.clone()]).expect("identifiers are pushed as text")
    }
}

/// What a job does online.
#[derive(Debug)]
pub(crate) enum OnlineOp {
    /// Nothing (offline-only writes).
    None,
    /// Puts, each applied unless the stored record is newer (and unexpired).
    Puts(OnlinePuts),
    /// A soft delete: the tombstone replaces the stored record if newer.
    SoftDelete {
        id: String,
        event_time_ms: i64,
        tombstone: Vec<u8>,
    },
    /// A hard delete: removes the record; fails when not newer.
    HardDelete {
        id: String,
        event_time_ms: i64,
        event_time: String,
    },
}

/// One write, checked and encoded, waiting to be committed.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) group: String,
    pub(crate) online: OnlineOp,
    /// Offline outbox entries to append.
    pub(crate) outbox: Vec<Vec<u8>>,
    /// Rows those entries hold.
    pub(crate) outbox_rows: u64,
    /// Rows the job writes (reported on a replay).
    pub(crate) rows: u64,
    /// The idempotency key: a job whose key the store has seen is not applied.
    pub(crate) key: Option<String>,
}

/// What became of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Applied.
    Written,
    /// Its key was known: not applied again. The rows the first write wrote.
    Replayed { rows: u64 },
}

/// The queue of jobs waiting for a commit.
///
/// Each waiting writer has its own channel, so a commit wakes exactly the
/// writers whose jobs it held, and at most one more: the writer it hands
/// the lead to. (A shared condition variable woke every waiting writer on
/// every commit; with a hundred writers waiting, as behind fs-server under
/// load, those wake-ups cost more CPU than the commits.)
#[derive(Debug, Default)]
pub(crate) struct CommitQueue {
    state: Mutex<QueueState>,
    transactions: AtomicU64,
    writes: AtomicU64,
}

/// How the store's writes were committed since it was opened
/// ([`Store::commit_stats`](crate::Store::commit_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Write transactions committed (or failed).
    pub transactions: u64,
    /// Writes (puts, batch puts, deletes) they held.
    pub writes: u64,
}

#[derive(Debug, Default)]
struct QueueState {
    /// Writers waiting for a commit, in arrival order.
    waiting: Vec<Waiter>,
    /// True while a writer commits (it leads).
    leading: bool,
}

/// A writer's jobs and where their outcomes go.
#[derive(Debug)]
struct Waiter {
    jobs: Vec<Job>,
    reply: mpsc::Sender<Message>,
}

/// What a waiting writer is told.
#[derive(Debug)]
enum Message {
    /// Its jobs' outcomes, in order.
    Done(Vec<Result<Outcome>>),
    /// The previous leader has finished: lead the next commit.
    Lead,
}

impl CommitQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `jobs` (with those of concurrent writers) and returns each
    /// job's outcome, in order. A writer that finds no commit running
    /// leads: it hands every job waiting to `commit_group`, which applies
    /// them in one transaction and gives each its outcome.
    pub(crate) fn run(
        &self,
        jobs: Vec<Job>,
        commit_group: impl Fn(Vec<Job>) -> Vec<Result<Outcome>>,
    ) -> Vec<Result<Outcome>> {
        let (reply, answers) = mpsc::channel();
        let mut lead = {
            let mut st = self.lock();
            st.waiting.push(Waiter { jobs, reply });
            !std::mem::replace(&mut st.leading, true)
        };
        loop {
            if lead {
                self.lead_one_commit(&commit_group);
            }
            match answers.recv() {
                Ok(Message::Done(results)) => return results,
                Ok(Message::Lead) => lead = true,
                Err(_) => unreachable!("the queue holds this writer's sender until it answers"),
            }
        }
    }

    /// As the leader: commits every job waiting with `commit_group`, and
    /// answers their writers (the leader's own jobs are among them).
    fn lead_one_commit(&self, commit_group: impl Fn(Vec<Job>) -> Vec<Result<Outcome>>) {
        let waiting = std::mem::take(&mut self.lock().waiting);
        let mut turn = Turn {
            queue: self,
            writers: Vec::with_capacity(waiting.len()),
            outcomes: None,
        };
        let mut group = Vec::new();
        for w in waiting {
            turn.writers.push((w.reply, w.jobs.len()));
            group.extend(w.jobs);
        }
        turn.outcomes = Some(commit_group(group));
    }

    /// Counts a transaction (committed or failed) holding `writes` writes.
    pub(crate) fn count(&self, writes: usize) {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        self.writes.fetch_add(writes as u64, Ordering::SeqCst);
    }

    /// The transactions and writes counted so far.
    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.transactions.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
        }
    }
}

/// A leader's turn: answers every writer of its group, also when the
/// commit panics, then hands the lead to the next waiting writer, if any.
struct Turn<'a> {
    queue: &'a CommitQueue,
    /// Each writer of the group, with how many jobs it had.
    writers: Vec<(mpsc::Sender<Message>, usize)>,
    /// The outcomes of the group's jobs, in order, once committed.
    outcomes: Option<Vec<Result<Outcome>>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut outcomes = self.outcomes.take().map(Vec::into_iter);
        for (reply, jobs) in self.writers.drain(..) {
            let results = match &mut outcomes {
                Some(all) => all.by_ref().take(jobs).collect(),
                None => (0..jobs)
                    .map(|_| {
                        Err(Error::CommitFailed {
                            message: "the thread committing this write panicked".into(),
                        })
                    })
                    .collect(),
            };
            // A writer that has gone (its thread panicked) needs no answer.
            let _ = reply.send(Message::Done(results));
        }
        let mut st = self.queue.lock();
        // Hand the lead to the first waiting writer still there; a writer
        // that is gone drops out of the queue.
        while let Some(next) = st.waiting.first() {
            if next.reply.send(Message::Lead).is_ok() {
                return;
            }
            st.waiting.remove(0);
        }
        st.leading = false;
    }
}
