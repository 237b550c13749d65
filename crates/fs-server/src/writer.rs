//! PutRecord's way to the store: one thread writes the puts of every
//! request waiting, together.
//!
//! Each request handing its put to a blocking-pool thread, which then
//! waits in the store's commit queue, costs two thread wake-ups per
//! request on top of the commit; under a hundred concurrent PutRecords
//! that was most of the server's CPU time. Here a request queues its put
//! and awaits the answer; the writer thread takes every put queued, writes
//! them with one [`Store::put_records_each`] (each put checked and
//! answered on its own, the valid ones in one durable transaction), and
//! answers each request. With a store that flushes its outbox in the write
//! that reaches the threshold (`StoreOptions::background_flush(false)`),
//! that flush runs on this thread and the puts queued meanwhile wait for it.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use fs_local::{RecordPut, Store};
use fs_schema::{Record, TargetStore, TtlDuration};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// At most this many puts go into one transaction.
const MAX_PUTS_PER_WRITE: usize = 1024;

/// One PutRecord waiting to be written.
struct Pending {
    group: String,
    record: Record,
    target_stores: Option<Vec<TargetStore>>,
    ttl: Option<TtlDuration>,
    reply: oneshot::Sender<fs_local::Result<()>>,
}

/// The writer thread and the queue to it.
pub(crate) struct Writer {
    queue: Mutex<Option<Sender<Pending>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread of `store`.
    pub(crate) fn start(store: Arc<Store>) -> std::io::Result<Writer> {
        let (queue, pending) = channel();
        let thread = std::thread::Builder::new()
            .name("fs-server-writer".into())
            .spawn(move || write_until_closed(&store, &pending))?;
        Ok(Writer {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Puts `record`: queued for the writer thread, answered when written.
    pub(crate) async fn put(
        &self,
        group: String,
        record: Record,
        target_stores: Option<Vec<TargetStore>>,
        ttl: Option<TtlDuration>,
    ) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            group,
            record,
            target_stores,
            ttl,
            reply,
        };
        let queued = match &*self.queue.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(queue) => queue.send(pending).is_ok(),
            None => false,
        };
        if !queued {
            return Err(ApiError::internal("the server is shutting down"));
        }
        answer
            .await
            .map_err(|_| ApiError::internal("the store's writer stopped"))?
            .map_err(ApiError::from_store)
    }

    /// Closes the queue and waits for the thread to write what it holds.
    pub(crate) fn close(&self) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: takes every put queued (waiting for one when there
/// is none), writes them together, answers each; until the queue closes.
fn write_until_closed(store: &Store, pending: &Receiver<Pending>) {
    while let Ok(first) = pending.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_PUTS_PER_WRITE
            && let Ok(next) = pending.try_recv()
        {
            batch.push(next);
        }
        let puts: Vec<RecordPut<'_>> = batch
            .iter()
            .map(|p| RecordPut {
                group: &p.group,
                record: &p.record,
                target_stores: p.target_stores.as_deref(),
                ttl: p.ttl,
            })
            .collect();
        let results = store.put_records_each(&puts);
        drop(puts);
        for (p, result) in batch.into_iter().zip(results) {
            // A request that went away (its client hung up) needs no answer.
            let _ = p.reply.send(result);
        }
    }
}
