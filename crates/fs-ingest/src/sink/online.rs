//! [`OnlineStoreSink`]: any [`OnlineStore`], one put per record.

use std::sync::Arc;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_online::OnlineStore;
use fs_retry::{Retried, RetryConfig};
use fs_schema::{FeatureGroup, batch_to_records};
use futures::StreamExt;

use super::{RowOutcome, Sink, WriteOptions};
use crate::error::{Error, Result};
use crate::source::Provenance;

/// The default number of puts in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// A [`Sink`] over any [`OnlineStore`] (PutRecord semantics): each record
/// is its own put, at most `concurrency` in flight
/// (`futures::stream::iter(..).buffer_unordered(n)`); puts failing with a
/// retryable error (throttling, transient: fs-retry's classification of
/// `fs_online::Error`) are retried per [`RetryConfig`] (retries, capped
/// backoff with full jitter, total deadline), others fail their row, with
/// the reason.
/// A group that does not exist fails the batch. Retries after a transient
/// error (which may have been applied) are counted in
/// [`RowOutcome::unknown_outcome_retries`].
///
/// This is the path for stores reached over the network, where
/// throughput is in-flight requests divided by latency. Offline rows are
/// the store's business (SageMaker writes its offline store itself), so
/// [`Sink::flush`] does nothing.
#[derive(Debug, Clone)]
pub struct OnlineStoreSink {
    store: Arc<dyn OnlineStore>,
    concurrency: usize,
    retry: RetryConfig,
}

impl OnlineStoreSink {
    /// A sink over `store` with [`DEFAULT_CONCURRENCY`] puts in flight and
    /// the default [`RetryConfig`].
    pub fn new(store: Arc<dyn OnlineStore>) -> Self {
        Self {
            store,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryConfig::default(),
        }
    }

    /// At most `n` puts in flight (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Retries per `retry`.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn OnlineStore> {
        &self.store
    }
}

#[async_trait]
impl Sink for OnlineStoreSink {
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
    ) -> Result<Vec<RowOutcome>> {
        let to_error = |source| Error::Sink {
            file: provenance.file.to_path_buf(),
            first_row: provenance.first_row(),
            source,
        };
        let records = batch_to_records(&batch).map_err(|e| to_error(Box::new(e)))?;
        let (name, put, store, retry) = (group.name(), options, &self.store, &self.retry);
        let mut results: Vec<(usize, Retried<(), fs_online::Error>)> =
            futures::stream::iter(records.into_iter().enumerate())
                .map(|(i, record)| async move {
                    // Classified by `fs_online::Error`'s `Classify`: a transient
                    // error (5xx, timeout, lost connection) may have landed.
                    let r = retry.run(|| store.put_record(name, &record, put)).await;
                    (i, r)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        results.sort_unstable_by_key(|(i, _)| *i);
        let mut outcomes = Vec::with_capacity(results.len());
        for (_, r) in results {
            let outcome = match (r.result, r.gave_up) {
                (Ok(()), _) => RowOutcome::written(),
                (Err(e), _) if e.is_not_found() => return Err(to_error(Box::new(e))),
                (Err(e), Some(gave_up)) => RowOutcome::failed(format!("{gave_up}: {e}")),
                (Err(e), None) => RowOutcome::failed(e.to_string()),
            };
            outcomes.push(
                outcome
                    .with_retries(r.retries)
                    .with_unknown_outcome_retries(r.unknown_outcome_retries),
            );
        }
        Ok(outcomes)
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
