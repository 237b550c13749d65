//! [`LocalSink`]: the embedded store.

use std::sync::Arc;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_local::{BatchOptions, Store};
use fs_schema::FeatureGroup;

use super::{RowOutcome, Sink, WriteOptions};
use crate::error::{BoxError, Error, Result};
use crate::source::Provenance;

/// A [`Sink`] over an embedded [`fs_local::Store`].
///
/// Each batch is written with one `Store::put_batch` call, on tokio's
/// blocking pool: the typed Arrow batch as it is (no per-row records), one
/// durable redb transaction holding the online values and one offline
/// outbox entry with the rows as Arrow. A row the store refuses fails
/// alone; the rest of the batch is written. With a batch key
/// ([`Sink::write_keyed`], given by an ingest with a checkpoint) the key is
/// recorded in the same transaction, and a batch sent again with a key the
/// store has seen is acknowledged without being written twice: a resumed
/// ingest writes every row exactly once. [`Sink::flush`] turns the offline
/// outbox into Parquet files.
#[derive(Debug, Clone)]
pub struct LocalSink {
    store: Arc<Store>,
}

impl LocalSink {
    /// A sink writing to `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    async fn put(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
        key: Option<&str>,
    ) -> Result<Vec<RowOutcome>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(Vec::new());
        }
        let store = self.store.clone();
        let name = group.feature_group_name.clone();
        let mut opts = BatchOptions::default();
        if let Some(stores) = &options.target_stores {
            opts = opts.target_stores(stores.iter().copied());
        }
        if let Some(ttl) = options.ttl {
            opts = opts.ttl(ttl);
        }
        if let Some(key) = key {
            opts = opts.idempotency_key(key);
        }
        let result =
            tokio::task::spawn_blocking(move || store.put_batch(&name, &batch, &opts)).await;
        let to_error = |source: BoxError| Error::Sink {
            file: provenance.file.to_path_buf(),
            first_row: provenance.first_row(),
            source,
        };
        let written = match result {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => return Err(to_error(Box::new(e))),
            Err(join) => return Err(to_error(Box::new(join))),
        };
        if written.replayed {
            tracing::debug!(
                key,
                rows = written.rows_written,
                "batch already written by an earlier run; not written again"
            );
        }
        let mut outcomes = vec![RowOutcome::written(); rows];
        for refused in written.refused {
            outcomes[refused.row] = RowOutcome::failed(refused.error.to_string());
        }
        Ok(outcomes)
    }
}

#[async_trait]
impl Sink for LocalSink {
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
    ) -> Result<Vec<RowOutcome>> {
        self.put(group, batch, provenance, options, None).await
    }

    async fn write_keyed(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
        key: &str,
    ) -> Result<Vec<RowOutcome>> {
        self.put(group, batch, provenance, options, Some(key)).await
    }

    async fn forget_keys(&self, prefix: &str) -> Result<()> {
        let store = self.store.clone();
        let owned = prefix.to_owned();
        let result =
            tokio::task::spawn_blocking(move || store.forget_idempotency_keys(&owned)).await;
        let to_error = |source: BoxError| Error::Sink {
            file: self.store.dir().to_path_buf(),
            first_row: None,
            source,
        };
        match result {
            Ok(Ok(n)) => {
                tracing::debug!(
                    prefix,
                    keys = n,
                    "forgot the batch keys of a finished ingest"
                );
                Ok(())
            }
            Ok(Err(e)) => Err(to_error(Box::new(e))),
            Err(join) => Err(to_error(Box::new(join))),
        }
    }

    async fn flush(&self) -> Result<()> {
        let store = self.store.clone();
        let dir = store.dir().to_path_buf();
        let result = tokio::task::spawn_blocking(move || store.flush()).await;
        let to_error = |source: BoxError| Error::Sink {
            file: dir.clone(),
            first_row: None,
            source,
        };
        match result {
            Ok(Ok(report)) => {
                tracing::debug!(
                    rows = report.rows,
                    files = report.files.len(),
                    "flushed the offline outbox"
                );
                Ok(())
            }
            Ok(Err(e)) => Err(to_error(Box::new(e))),
            Err(join) => Err(to_error(Box::new(join))),
        }
    }
}
