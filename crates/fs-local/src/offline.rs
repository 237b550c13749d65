//! The offline store: the outbox flushed to Parquet in the SageMaker layout.
//!
//! A flush is idempotent. It first records in the database which outbox
//! rows it covers (`pending_flush_upto`), then writes one Parquet file per
//! group and event-time hour (to a temporary name, fsync, rename, fsync the
//! directory), then deletes those rows from the outbox. File names are
//! derived from the group, the partition and the covered range, so a flush
//! cut short by a crash is redone by the next one with the same rows into
//! the same files: nothing is lost and nothing is written twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::Utc;
use fs_schema::{EventTime, FeatureGroup, layout, records_to_batch};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use redb::{ReadableTable, ReadableTableMetadata};

use crate::codec::{OutboxRow, decode_outbox};
use crate::error::{Error, Result, db};
use crate::store::{META, OUTBOX, PENDING_FLUSH, Store};

/// The columns the offline store adds to every row.
pub const WRITE_TIME: &str = "write_time";
/// When the put or delete was received.
pub const API_INVOCATION_TIME: &str = "api_invocation_time";
/// True on the row a delete appends.
pub const IS_DELETED: &str = "is_deleted";

/// What a flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Outbox rows moved to Parquet.
    pub rows: u64,
    /// The files written (absolute paths).
    pub files: Vec<PathBuf>,
}

/// The Arrow schema of a group's offline files: its features, then
/// `write_time` and `api_invocation_time` (UTC millisecond timestamps) and
/// `is_deleted`.
pub fn offline_schema(group: &FeatureGroup) -> SchemaRef {
    let base = fs_schema::arrow_schema(group);
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(WRITE_TIME, ts.clone(), false));
    fields.push(Field::new(API_INVOCATION_TIME, ts, false));
    fields.push(Field::new(IS_DELETED, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// FNV-1a: a hash that stays the same across processes and releases.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Store {
    /// Moves every row of the offline outbox to Parquet files (see the
    /// module docs for why this is safe to interrupt).
    pub fn flush(&self) -> Result<FlushReport> {
        self.flush_inner(true)
    }

    /// Writes the files of a flush but leaves the outbox as it is, as a
    /// crash right before the outbox trim would. For crash-safety tests.
    #[doc(hidden)]
    pub fn flush_files_only(&self) -> Result<FlushReport> {
        self.flush_inner(false)
    }

    fn flush_inner(&self, trim: bool) -> Result<FlushReport> {
        let _guard = self.flush_lock.lock().expect("flush lock");
        let Some(upto) = self.pending_flush()? else {
            return Ok(FlushReport::default());
        };
        let mut partitions: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
        let mut rows = 0u64;
        {
            let txn = self.read_txn()?;
            let outbox = txn.open_table(OUTBOX).map_err(db("reading the outbox"))?;
            for entry in outbox.range(..=upto).map_err(db("reading the outbox"))? {
                let (_, bytes) = entry.map_err(db("reading the outbox"))?;
                let row = decode_outbox(bytes.value())?;
                let t = EventTime::from_millis(row.event_time_ms)?;
                partitions
                    .entry((row.group.clone(), layout::partition(t)))
                    .or_default()
                    .push(row);
                rows += 1;
            }
        }
        let write_time = Utc::now().timestamp_millis();
        let mut files = Vec::new();
        for ((group, partition), rows) in &partitions {
            let Ok(desc) = self.describe_feature_group(group) else {
                tracing::warn!(
                    group,
                    rows = rows.len(),
                    "dropping offline rows of a deleted feature group"
                );
                continue;
            };
            let Some(rel) = &desc.offline_data_dir else {
                continue;
            };
            let dir = self.dir.join(rel).join(partition);
            let latest = rows
                .iter()
                .map(|r| r.event_time_ms)
                .max()
                .expect("partitions are not empty");
            let suffix = format!(
                "{:016x}",
                stable_hash(&[group.as_bytes(), partition.as_bytes(), &upto.to_le_bytes()])
            );
            let name = layout::file_name(EventTime::from_millis(latest)?, &suffix);
            let batch = offline_batch(&desc.spec, rows, write_time)?;
            let path = dir.join(&name);
            write_parquet_atomically(&dir, &name, &batch)?;
            files.push(path);
        }
        if trim {
            let txn = self.db.begin_write().map_err(db("trimming the outbox"))?;
            {
                let mut outbox = txn.open_table(OUTBOX).map_err(db("trimming the outbox"))?;
                outbox
                    .retain_in(..=upto, |_, _| false)
                    .map_err(db("trimming the outbox"))?;
                let left = outbox.len().map_err(db("trimming the outbox"))?;
                let mut meta = txn.open_table(META).map_err(db("trimming the outbox"))?;
                meta.remove(PENDING_FLUSH)
                    .map_err(db("trimming the outbox"))?;
                self.outbox_rows.store(left, Ordering::SeqCst);
            }
            txn.commit().map_err(db("trimming the outbox"))?;
        }
        tracing::debug!(rows, files = files.len(), "flushed the offline outbox");
        Ok(FlushReport { rows, files })
    }

    /// The last outbox sequence number the current flush covers: a flush
    /// left pending by a crash, or else everything in the outbox now.
    fn pending_flush(&self) -> Result<Option<u64>> {
        let txn = self.db.begin_write().map_err(db("starting a flush"))?;
        let upto = {
            let mut meta = txn.open_table(META).map_err(db("starting a flush"))?;
            let pending = meta
                .get(PENDING_FLUSH)
                .map_err(db("starting a flush"))?
                .map(|v| v.value());
            match pending {
                Some(p) => Some(p),
                None => {
                    let outbox = txn.open_table(OUTBOX).map_err(db("starting a flush"))?;
                    let last = outbox
                        .last()
                        .map_err(db("starting a flush"))?
                        .map(|(k, _)| k.value());
                    if let Some(last) = last {
                        meta.insert(PENDING_FLUSH, last)
                            .map_err(db("starting a flush"))?;
                    }
                    last
                }
            }
        };
        txn.commit().map_err(db("starting a flush"))?;
        Ok(upto)
    }
}

fn offline_batch(
    spec: &FeatureGroup,
    rows: &[OutboxRow],
    write_time_ms: i64,
) -> Result<RecordBatch> {
    let records: Vec<_> = rows.iter().map(|r| r.record.clone()).collect();
    let features = records_to_batch(spec, &records)?;
    let n = rows.len();
    let ts = |values: Vec<i64>| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC"))
    };
    let mut columns = features.columns().to_vec();
    columns.push(ts(vec![write_time_ms; n]));
    columns.push(ts(rows.iter().map(|r| r.api_invocation_time_ms).collect()));
    columns.push(Arc::new(BooleanArray::from(
        rows.iter().map(|r| r.is_deleted).collect::<Vec<_>>(),
    )));
    RecordBatch::try_new(offline_schema(spec), columns)
        .map_err(|e| Error::from(fs_schema::Error::from(e)))
}

/// Writes `batch` to `dir/name` so that the file appears only whole: a
/// temporary file, fsync, rename, fsync of the directory.
fn write_parquet_atomically(dir: &Path, name: &str, batch: &RecordBatch) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let file = File::create(&tmp).map_err(Error::io(&tmp))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let parquet_err = |source| Error::Parquet {
        path: path.clone(),
        source,
    };
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(parquet_err)?;
    writer.write(batch).map_err(parquet_err)?;
    let file = writer.into_inner().map_err(parquet_err)?;
    file.sync_all().map_err(Error::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))?;
    Ok(())
}
