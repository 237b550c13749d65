//! The offline store's Parquet files: a flush's rows, partition by
//! partition, as Arrow batches in the group's offline schema, written so
//! that each file appears whole or not at all (to a temporary name, fsync,
//! rename, fsync the directory).
//!
//! This is the encoder of a flush and knows nothing of the outbox's
//! bookkeeping: the flush (the parent module) decides which rows go to
//! which file and what it is called; this module turns them into bytes on
//! disk. Batch columns are cast strictly, so a value that does not fit its
//! feature fails the flush by name instead of landing as a null.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, TimestampMillisecondArray, new_null_array};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use fs_schema::{CastOptions, FeatureGroup, cast_batch};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::codec::{OutboxRow, each_record_value};
use crate::columns::{Column, raw_batch};
use crate::description::GroupDescription;
use crate::error::{BadValue, Error, Result};
use crate::publish::lock_for_publishing;

/// The columns the offline store adds to every row.
pub const WRITE_TIME: &str = "write_time";
/// When the put or delete was received.
pub const API_INVOCATION_TIME: &str = "api_invocation_time";
/// True on the row a delete appends.
pub const IS_DELETED: &str = "is_deleted";

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

/// Threads encoding a flush's Parquet files.
const ENCODE_THREADS: usize = 2;

/// Threads waiting for a flush's fsyncs.
const SYNC_THREADS: usize = 16;

/// Files a flush keeps open at once.
const OPEN_FILES: usize = 256;

/// Rows of one partition from a run of outbox entries of one kind.
pub(crate) enum Piece {
    /// Row entries (typed records).
    Rows(Vec<OutboxRow>),
    /// Rows of batch entries, already in the group's offline schema.
    Ready(RecordBatch),
}

/// The rows of one group and event-time hour, in outbox order.
#[derive(Default)]
pub(crate) struct Partition {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) latest_ms: i64,
}

impl Partition {
    pub(crate) fn note(&mut self, event_time_ms: i64) {
        self.latest_ms = if self.pieces.is_empty() {
            event_time_ms
        } else {
            self.latest_ms.max(event_time_ms)
        };
    }

    pub(crate) fn push_row(&mut self, row: OutboxRow) {
        self.note(row.event_time_ms);
        match self.pieces.last_mut() {
            Some(Piece::Rows(rows)) => rows.push(row),
            _ => self.pieces.push(Piece::Rows(vec![row])),
        }
    }
}

/// One file a flush writes: a partition's rows of one group.
pub(crate) struct Job {
    pub(crate) desc: Arc<GroupDescription>,
    /// The group's offline data directory (holding its
    /// [`layout::PUBLISH_LOCK`](fs_schema::layout::PUBLISH_LOCK)).
    pub(crate) data_dir: PathBuf,
    /// The partition directory the file goes to.
    pub(crate) dir: PathBuf,
    /// The file's name.
    pub(crate) name: String,
    pub(crate) partition: Partition,
}

/// Writes each partition's file and returns the files, in partition order.
///
/// Every file appears whole or not at all: it is written to a temporary
/// name, fsynced, renamed, and its directory fsynced. The files are encoded
/// by a few threads, and the fsyncs, which mostly wait for the disk, are
/// issued by many at once (the file system commits them together).
///
/// The whole flush appears at once to readers that take the shared
/// [`layout::PUBLISH_LOCK`](fs_schema::layout::PUBLISH_LOCK): every file is
/// written and fsynced first, and all are renamed while this holds the
/// exclusive lock of every group written (a rename is cheap, so readers
/// wait microseconds per file).
pub(crate) fn write_partitions(jobs: Vec<Job>, write_time_ms: i64) -> Result<Vec<PathBuf>> {
    let mut tmps = Vec::with_capacity(jobs.len());
    // A bounded number of files open at once.
    for chunk in jobs.chunks(OPEN_FILES) {
        let written = parallel(chunk, ENCODE_THREADS, |job| {
            let batch = offline_batch(&job.desc.spec, &job.partition.pieces, write_time_ms)?;
            write_parquet(&job.dir, &job.name, &batch)
        })?;
        parallel(&written, SYNC_THREADS, |(tmp, file)| {
            file.sync_all().map_err(Error::io(tmp))
        })?;
        tmps.extend(written.into_iter().map(|(tmp, _file)| tmp));
    }
    let mut data_dirs: Vec<&Path> = jobs.iter().map(|j| j.data_dir.as_path()).collect();
    data_dirs.sort();
    data_dirs.dedup();
    let mut files = Vec::with_capacity(jobs.len());
    {
        let _locks = data_dirs
            .iter()
            .map(|dir| lock_for_publishing(dir))
            .collect::<Result<Vec<File>>>()?;
        for (tmp, job) in tmps.iter().zip(&jobs) {
            let path = job.dir.join(&job.name);
            std::fs::rename(tmp, &path).map_err(Error::io(&path))?;
            files.push(path);
        }
    }
    let mut dirs: Vec<&PathBuf> = jobs.iter().map(|j| &j.dir).collect();
    dirs.sort();
    dirs.dedup();
    parallel(&dirs, SYNC_THREADS, |dir| {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(dir))
    })?;
    Ok(files)
}

/// Runs `f` on every item, on up to `threads` threads, and returns the
/// results in item order (or the first error).
fn parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let done: Vec<Result<Vec<(usize, R)>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else {
                            return Ok(done);
                        };
                        done.push((i, f(item)?));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("flush threads do not panic"))
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for d in done {
        all.extend(d?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

/// The offline rows of one partition: its pieces in order, as one batch in
/// the group's offline schema (features the rows lack are null).
fn offline_batch(spec: &FeatureGroup, pieces: &[Piece], write_time_ms: i64) -> Result<RecordBatch> {
    let schema = offline_schema(spec);
    let parts = pieces
        .iter()
        .map(|p| match p {
            Piece::Rows(rows) => rows_batch(spec, &schema, rows, write_time_ms),
            Piece::Ready(batch) if batch.schema() == schema => Ok(batch.clone()),
            // The group gained features since the run was read.
            Piece::Ready(batch) => widen(&schema, batch),
        })
        .collect::<Result<Vec<_>>>()?;
    if parts.len() == 1 {
        return Ok(parts.into_iter().next().expect("one part"));
    }
    arrow_select::concat::concat_batches(&schema, &parts).map_err(|e| Error::Corrupt {
        what: format!(
            "joining the offline rows of feature group {:?}: {e}",
            spec.feature_group_name
        ),
    })
}

/// `batch` in `schema`, which has the same columns and more (null here).
fn widen(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            batch
                .column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| new_null_array(f.data_type(), batch.num_rows()))
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::from(fs_schema::Error::from(e)))
}

fn ts_column(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC"))
}

fn rows_batch(
    spec: &FeatureGroup,
    schema: &SchemaRef,
    rows: &[OutboxRow],
    write_time_ms: i64,
) -> Result<RecordBatch> {
    let defs = &spec.feature_definitions;
    let mut columns: Vec<Column> = defs.iter().map(|d| Column::new(d, rows.len())).collect();
    for (row, r) in rows.iter().enumerate() {
        let mut fits = true;
        each_record_value(&r.record, defs, |d, cell| {
            fits &= columns[d].push(row, cell)
        })?;
        if !fits {
            return Err(Error::Corrupt {
                what: format!(
                    "an offline outbox row of feature group {:?} holds a value that does not fit its feature",
                    spec.feature_group_name
                ),
            });
        }
        for c in &mut columns {
            c.end_row(row);
        }
    }
    let features = cast_batch(&raw_batch(defs, columns)?, spec, &CastOptions::default())?;
    let n = rows.len();
    let mut columns = features.columns().to_vec();
    columns.push(ts_column(vec![write_time_ms; n]));
    columns.push(ts_column(
        rows.iter().map(|r| r.api_invocation_time_ms).collect(),
    ));
    columns.push(Arc::new(BooleanArray::from(
        rows.iter().map(|r| r.is_deleted).collect::<Vec<_>>(),
    )));
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::from(fs_schema::Error::from(e)))
}

/// Where a batch was read from, for errors.
pub(crate) struct Source {
    pub(crate) file: PathBuf,
    pub(crate) entry: String,
}

/// `column` cast to `to` strictly (`safe: false`): a value that does not
/// fit is an error naming `source`, the column and the first such value,
/// not a null.
fn cast_strict(
    column: &ArrayRef,
    to: &DataType,
    group: &str,
    name: &str,
    source: &Source,
) -> Result<ArrayRef> {
    let strict = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    let error = match arrow_cast::cast_with_options(column, to, &strict) {
        Ok(cast) => return Ok(cast),
        Err(e) => e,
    };
    // The first row that fails alone, to name its value.
    let failing = (0..column.len()).find_map(|row| {
        arrow_cast::cast_with_options(&column.slice(row, 1), to, &strict)
            .err()
            .map(|e| (row, e))
    });
    let (row, error) = failing.unwrap_or((0, error));
    let value = arrow_cast::display::array_value_to_string(column, row)
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|_| "(not displayable)".into());
    Err(Error::BadValue(Box::new(BadValue {
        file: source.file.clone(),
        entry: source.entry.clone(),
        group: group.to_owned(),
        column: name.to_owned(),
        row,
        value,
        to: to.to_string(),
        source: error,
    })))
}

pub(crate) fn batch_piece(
    spec: &FeatureGroup,
    schema: &SchemaRef,
    batch: &RecordBatch,
    source: &Source,
    api_invocation_time_ms: i64,
    write_time_ms: i64,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for def in &spec.feature_definitions {
        let target = fs_schema::arrow_field(def, true);
        columns.push(match batch.column_by_name(&def.name) {
            None => new_null_array(target.data_type(), n),
            Some(c) if c.data_type() == target.data_type() => c.clone(),
            Some(c) => cast_strict(
                c,
                target.data_type(),
                &spec.feature_group_name,
                &def.name,
                source,
            )?,
        });
    }
    columns.push(ts_column(vec![write_time_ms; n]));
    columns.push(ts_column(vec![api_invocation_time_ms; n]));
    columns.push(Arc::new(BooleanArray::from(vec![false; n])));
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::from(fs_schema::Error::from(e)))
}

/// The Parquet settings of an offline file: snappy; statistics per column
/// chunk (what readers prune with; a flush writes one row group per file,
/// so page statistics and the page index would only repeat them); and no
/// dictionary for numbers, whose values rarely repeat (hashing each value
/// for a dictionary that is then dropped costs more than the encoding).
fn writer_properties(batch: &RecordBatch) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for field in batch.schema().fields() {
        if matches!(field.data_type(), DataType::Float64 | DataType::Int64) {
            props =
                props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    props.build()
}

/// Writes `batch` to a temporary file next to `dir/name` and returns it
/// (written, not yet synced) with its path.
fn write_parquet(dir: &Path, name: &str, batch: &RecordBatch) -> Result<(PathBuf, File)> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let file = File::create(&tmp).map_err(Error::io(&tmp))?;
    let props = writer_properties(batch);
    let parquet_err = |source| Error::Parquet {
        path: dir.join(name),
        source,
    };
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(parquet_err)?;
    writer.write(batch).map_err(parquet_err)?;
    let file = writer.into_inner().map_err(parquet_err)?;
    Ok((tmp, file))
}

#[cfg(test)]
mod tests {
    use arrow_array::StringArray;
    use fs_schema::{FeatureDefinition, OnlineStoreConfig, Record};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use redb::ReadableTable;

    use super::*;
    use crate::outbox::NEXT_SEQ;
    use crate::outbox::OUTBOX;
    use crate::outbox::encode_batch_entry;
    use crate::store::{DATABASE_FILE, META, Store};

    const T: &str = "2024-01-01T10:00:00Z";

    fn group() -> FeatureGroup {
        FeatureGroup::builder("g", "id", "ts")
            .features([
                FeatureDefinition::string("id"),
                FeatureDefinition::string("ts"),
                FeatureDefinition::integral("n"),
            ])
            .online_store(OnlineStoreConfig::enabled())
            .offline_store_s3_uri("s3://bucket/prefix")
            .build()
            .unwrap()
    }

    fn rows_in(files: &[PathBuf]) -> usize {
        files
            .iter()
            .map(|f| {
                let file = File::open(f).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
                reader.metadata().file_metadata().num_rows() as usize
            })
            .sum()
    }

    /// An outbox entry whose `n` column is text with a value that is no
    /// number (as a store changed outside this library could hold): the
    /// flush fails naming the file, entry, column, row and value, instead
    /// of writing a null; flushed files and waiting rows stay.
    #[test]
    fn a_value_that_does_not_cast_fails_the_flush_by_name_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_feature_group(group()).unwrap();
        let record = |id: &str| Record::new().with("id", id).with("ts", T).with("n", "1");
        store.put_record("g", &record("a"), None, None).unwrap();
        let flushed = store.flush().unwrap().files;
        store.put_record("g", &record("b"), None, None).unwrap();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(StringArray::from(vec!["c", "d", "e"]))),
            ("ts", Arc::new(StringArray::from(vec![T, T, T]))),
            (
                "n",
                Arc::new(StringArray::from(vec![Some("2"), None, Some("two")])),
            ),
        ];
        let bad = RecordBatch::try_from_iter(columns).unwrap();
        let entry = encode_batch_entry("g", 0, &bad, vec![0, 0, 0]).unwrap();
        let seq = {
            let txn = store.db.begin_write().unwrap();
            let seq = {
                let mut meta = txn.open_table(META).unwrap();
                let seq = meta.get(NEXT_SEQ).unwrap().unwrap().value();
                meta.insert(NEXT_SEQ, seq + 1).unwrap();
                txn.open_table(OUTBOX)
                    .unwrap()
                    .insert(seq, entry.as_slice())
                    .unwrap();
                seq
            };
            txn.commit().unwrap();
            seq
        };
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.outbox_len(), 4);

        let err = store.flush().unwrap_err();
        let message = err.to_string();
        let file = dir.path().join(DATABASE_FILE);
        for part in [
            file.display().to_string(),
            format!("offline outbox entry {seq}"),
            "column \"n\"".into(),
            "row 2".into(),
            "\"two\"".into(),
            "Int64".into(),
        ] {
            assert!(message.contains(&part), "{part:?} in {message}");
        }
        assert!(matches!(&err, Error::BadValue(b) if b.row == 2), "{err:?}");
        // Nothing already written is lost: the flushed file is whole, the
        // waiting rows wait (the next flush still fails on the bad entry).
        assert_eq!(rows_in(&flushed), 1);
        assert_eq!(store.outbox_len(), 4);
        assert!(store.get_record("g", "b", None).unwrap().is_some());
        assert!(store.flush().is_err());
        assert_eq!(store.outbox_len(), 4);
    }
}
