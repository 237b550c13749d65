//! [`LocalSink`]: the embedded store.

use std::sync::Arc;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_local::Store;
use fs_schema::{FeatureGroup, Record, batch_to_records};

use super::{RowOutcome, Sink, WriteOptions};
use crate::error::{BoxError, Error, Result};
use crate::source::Provenance;

/// Records that fail one by one before a batch is validated up front.
const INVALID_BEFORE_PRECHECK: usize = 8;

/// A [`Sink`] over an embedded [`fs_local::Store`].
///
/// Each batch is written with one `put_records` call: one durable redb
/// transaction (online values and offline outbox rows together), run on
/// tokio's blocking pool. `put_records` is all-or-nothing; when it refuses
/// a record, that row fails alone and the rest of the batch is written.
/// [`Sink::flush`] turns the offline outbox into Parquet files.
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
}

fn sink_error(p: &Provenance) -> impl FnOnce(BoxError) -> Error + '_ {
    move |source| Error::Sink {
        file: p.file.to_path_buf(),
        first_row: p.first_row(),
        source,
    }
}

/// Writes `records`, failing rows `put_records` refuses one at a time.
fn put_all(
    store: &Store,
    group: &str,
    mut records: Vec<Record>,
    options: &WriteOptions,
) -> std::result::Result<Vec<RowOutcome>, fs_local::Error> {
    let mut outcomes = vec![RowOutcome::written(); records.len()];
    // The batch row of each record still to write.
    let mut rows: Vec<usize> = (0..records.len()).collect();
    let mut refused = 0;
    loop {
        if refused == INVALID_BEFORE_PRECHECK {
            // Many bad records: validate each once instead of one call per refusal.
            let spec = store.describe_feature_group(group)?.spec.clone();
            let (mut keep_rows, mut keep_records) = (Vec::new(), Vec::new());
            for (row, r) in rows.into_iter().zip(records) {
                match r.validate(&spec).and_then(|()| r.event_time(&spec)) {
                    Ok(_) => {
                        keep_rows.push(row);
                        keep_records.push(r);
                    }
                    Err(e) => outcomes[row] = RowOutcome::failed(e.to_string()),
                }
            }
            (rows, records) = (keep_rows, keep_records);
        }
        match store.put_records(
            group,
            &records,
            options.target_stores.as_deref(),
            options.ttl,
        ) {
            Ok(()) => return Ok(outcomes),
            Err(fs_local::Error::InvalidRecord { index, source, .. }) if index < records.len() => {
                outcomes[rows.remove(index)] = RowOutcome::failed(source.to_string());
                records.remove(index);
                refused += 1;
            }
            Err(e) => return Err(e),
        }
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
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let store = self.store.clone();
        let name = group.feature_group_name.clone();
        let options = options.clone();
        let result = tokio::task::spawn_blocking(move || -> std::result::Result<_, BoxError> {
            let records = batch_to_records(&batch)?;
            Ok(put_all(&store, &name, records, &options)?)
        })
        .await;
        match result {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(e)) => Err(sink_error(provenance)(e)),
            Err(join) => Err(sink_error(provenance)(Box::new(join))),
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
