//! The reading side of an ingest, on a blocking thread: read each file,
//! skip what a previous run acknowledged and what belongs to other shards,
//! cast, and hand prepared batches to the writing side through a bounded
//! channel (so reading and casting overlap with writing, and memory stays
//! bounded by a few batches). A stream of batches takes the same path from
//! the numbering on: it is pulled on the caller's task and each batch is
//! cast on tokio's blocking pool.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, new_empty_array};
use arrow_schema::{DataType, SchemaRef};
use fs_schema::{CastOptions, FeatureGroup, Record, batch_to_records, cast_batch_lenient};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::error::{BoxError, Error, Result};
use crate::options::IngestOptions;
use crate::report::{Failure, Stage};
use crate::shard::retain_rows_of_shard;
use crate::source::stream::StreamBatches;
use crate::source::{Format, Provenance, SourceBatch, SourceFile, read_file};

/// How many prepared batches may wait for the writer.
pub(crate) const CHANNEL_BATCHES: usize = 2;

/// What the reader sends the writer.
#[derive(Debug)]
pub(crate) enum Item {
    /// A file is being opened.
    FileStart(usize),
    /// A batch of a file, cast.
    Batch(Prepared),
    /// A file could not be read (further); nothing more comes from it.
    FileError(usize, Error),
    /// A file was read to its end.
    FileEnd(usize),
}

/// A batch ready to write.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The source's index in the run.
    pub(crate) file: usize,
    /// A stream's batch number (`None` for a file).
    pub(crate) batch: Option<u64>,
    /// The rows that cast cleanly, typed as the group.
    pub(crate) typed: RecordBatch,
    /// The rows of `typed`.
    pub(crate) provenance: Provenance,
    /// Read and cast failures, by row.
    pub(crate) failures: Vec<Failure>,
    /// Rows this batch counts as read.
    pub(crate) rows_read: u64,
    /// The last row the batch covers (everything up to it is handled once
    /// this batch is).
    pub(crate) last_row: u64,
    /// Bytes consumed.
    pub(crate) bytes: u64,
    /// Rows skipped as acknowledged by a previous run.
    pub(crate) rows_resumed: u64,
    /// Rows left to other shards.
    pub(crate) rows_other_shards: u64,
}

/// What to read.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) files: Vec<SourceFile>,
    /// Per file: rows already done (skip them), and whether it is complete (skip it).
    pub(crate) done: Vec<(u64, bool)>,
    /// Shard rows by record identifier: `(index, count)`.
    pub(crate) record_shard: Option<(u32, u32)>,
}

/// What to read of a stream of batches.
#[derive(Debug)]
pub(crate) struct StreamPlan<'a> {
    pub(crate) name: &'a str,
    /// The declared schema.
    pub(crate) schema: SchemaRef,
    /// Rows already done (skip them), and whether it is complete (skip it).
    pub(crate) done: (u64, bool),
    /// Shard rows by record identifier: `(index, count)`.
    pub(crate) record_shard: Option<(u32, u32)>,
}

/// The cast options for a file: text formats read empty text as null.
pub(crate) fn cast_options(options: &IngestOptions, format: Format) -> CastOptions {
    match format {
        Format::Csv | Format::JsonLines => options.cast.clone().empty_string_as_null(true),
        Format::Parquet => options.cast.clone(),
    }
}

/// Reads every file of `plan`, sending items to `tx` until done or the
/// writer hangs up.
pub(crate) fn read_all(
    plan: Plan,
    group: Arc<FeatureGroup>,
    options: IngestOptions,
    tx: mpsc::Sender<Item>,
) {
    let mut reference: Option<Reference> = None;
    for (index, file) in plan.files.iter().enumerate() {
        let (rows_done, complete) = plan.done[index];
        if complete {
            // A resumed run checks the other files against the same first file.
            if reference.is_none()
                && file.format != Format::JsonLines
                && let Ok(batches) = read_file(file, &group, &options)
            {
                reference = Some(Reference::new(file, &batches.schema(), &group));
            }
            continue;
        }
        if tx.blocking_send(Item::FileStart(index)).is_err() {
            return;
        }
        let _span = tracing::info_span!("ingest_file", file = %file.path.display()).entered();
        let ctx = SourceCtx {
            index,
            path: file.path.clone(),
            relative: file.relative.clone(),
            csv: file.format == Format::Csv,
            stream: None,
            group: group.clone(),
            cast: cast_options(&options, file.format),
            rows_done,
            record_shard: plan.record_shard,
        };
        let end = match read_one(&ctx, file, &options, &tx, &mut reference) {
            Ok(true) => Item::FileEnd(index),
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "file not read to its end");
                Item::FileError(index, e)
            }
        };
        if tx.blocking_send(end).is_err() {
            return;
        }
    }
}

/// What preparing a batch of one source needs.
struct SourceCtx {
    /// The source's index in the run.
    index: usize,
    /// The file's path, or the stream's name.
    path: std::path::PathBuf,
    /// What sharding by record identifier hashes a row without one with.
    relative: String,
    /// CSV: a null is an empty cell.
    csv: bool,
    /// The stream's name, for a stream.
    stream: Option<String>,
    group: Arc<FeatureGroup>,
    cast: CastOptions,
    rows_done: u64,
    record_shard: Option<(u32, u32)>,
}

impl SourceCtx {
    /// A schema error of the source: a file's, or a stream's at `batch`.
    fn schema_error(&self, batch: Option<u64>, row: Option<u64>, e: fs_schema::Error) -> Error {
        match (&self.stream, batch) {
            (Some(stream), Some(batch)) => Error::stream_schema(stream, batch, row, e),
            _ => Error::schema(&self.path, e),
        }
    }
}

/// Checks that a batch of `schema` fits the group as a whole (a missing
/// identifier column, an unknown column, a column of a type no feature
/// can hold), by casting an empty batch of it.
fn check_schema(schema: &SchemaRef, group: &FeatureGroup, cast: &CastOptions) -> Result<(), Error> {
    let empty = RecordBatch::try_new(
        schema.clone(),
        schema
            .fields()
            .iter()
            .map(|f| new_empty_array(f.data_type()))
            .collect(),
    )
    .map_err(|e| Error::Schema {
        file: Default::default(),
        column: None,
        source: Box::new(e),
    })?;
    cast_batch_lenient(&empty, group, cast)
        .map_err(|e| Error::schema(std::path::PathBuf::new(), e))?;
    Ok(())
}

/// Reads a stream of batches as the source of index 0, sending items to
/// `tx` until it ends, fails, or the writer hangs up. Casting runs on
/// tokio's blocking pool, one batch at a time; the stream is pulled on the
/// caller's task (it need not be `'static`).
pub(crate) async fn read_stream<S, E>(
    plan: StreamPlan<'_>,
    batches: S,
    group: Arc<FeatureGroup>,
    options: &IngestOptions,
    tx: mpsc::Sender<Item>,
) where
    S: Stream<Item = std::result::Result<RecordBatch, E>> + Send,
    E: Into<BoxError>,
{
    let StreamPlan {
        name,
        schema,
        done: (rows_done, complete),
        record_shard,
    } = plan;
    if complete {
        return;
    }
    if tx.send(Item::FileStart(0)).await.is_err() {
        return;
    }
    let mut numbering = StreamBatches::new(name, &schema);
    let ctx = Arc::new(SourceCtx {
        index: 0,
        path: name.into(),
        relative: name.to_owned(),
        csv: false,
        stream: Some(name.to_owned()),
        group,
        cast: options.cast.clone(),
        rows_done,
        record_shard,
    });
    // The declared schema is checked before the first batch is pulled.
    if let Err(e) = check_stream_schema(&numbering.schema(), &ctx) {
        let e = match e {
            Error::Schema { column, source, .. } => Error::Stream {
                stream: name.to_owned(),
                batch: 0,
                row: None,
                column,
                source,
            },
            other => other,
        };
        let _ = tx.send(Item::FileError(0, e)).await;
        return;
    }
    let mut batches = std::pin::pin!(batches);
    let end = loop {
        let next = tokio::select! {
            next = batches.next() => next.map(|r| r.map_err(Into::<BoxError>::into)),
            () = tx.closed() => return,
        };
        let batch = match next {
            None => break Item::FileEnd(0),
            Some(Err(e)) => break Item::FileError(0, numbering.error(None, e)),
            Some(Ok(batch)) => batch,
        };
        let (number, sb) = match numbering.number(batch) {
            Ok(b) => b,
            Err(e) => break Item::FileError(0, e),
        };
        let ctx = ctx.clone();
        let first_row = sb.first_row;
        let prepared = tokio::task::spawn_blocking(move || prepare(&ctx, sb, Some(number))).await;
        let item = match prepared {
            Ok(Ok(p)) => Item::Batch(p),
            Ok(Err(e)) => break Item::FileError(0, e),
            Err(join) => {
                break Item::FileError(
                    0,
                    Error::Stream {
                        stream: name.to_owned(),
                        batch: number,
                        row: Some(first_row),
                        column: None,
                        source: Box::new(join),
                    },
                );
            }
        };
        if tx.send(item).await.is_err() {
            return;
        }
    };
    if let Item::FileError(_, e) = &end {
        tracing::warn!(error = %e, "stream not read to its end");
    }
    let _ = tx.send(end).await;
}

/// The whole-stream checks of the declared schema: no column named twice,
/// and a schema that fits the group.
fn check_stream_schema(schema: &SchemaRef, ctx: &SourceCtx) -> Result<(), Error> {
    let mut seen = HashSet::new();
    if let Some(dup) = schema
        .fields()
        .iter()
        .map(|f| f.name())
        .find(|n| !seen.insert(*n))
    {
        return Err(Error::Schema {
            file: ctx.path.clone(),
            column: Some(dup.clone()),
            source: format!("the stream's schema has more than one column named {dup:?}").into(),
        });
    }
    check_schema(schema, &ctx.group, &ctx.cast)
}

/// The feature columns of the first CSV or Parquet file of an ingest, which
/// every later one must have too, of the same types (for files of the same
/// format): a column that disappears, appears or changes type between the
/// files of one ingest fails the file where it does. JSON Lines files have
/// no schema of their own (each line names its keys) and are not compared.
struct Reference {
    file: std::path::PathBuf,
    format: Format,
    columns: Vec<(String, DataType)>,
}

impl Reference {
    fn new(file: &SourceFile, schema: &arrow_schema::Schema, group: &FeatureGroup) -> Reference {
        Reference {
            file: file.path.clone(),
            format: file.format,
            columns: schema
                .fields()
                .iter()
                .filter(|f| group.feature(f.name()).is_some())
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect(),
        }
    }

    /// The first difference of `file`'s columns from the first file's.
    fn check(
        &self,
        file: &SourceFile,
        schema: &arrow_schema::Schema,
        group: &FeatureGroup,
    ) -> Result<()> {
        let drift = |column: &str, what: String| Error::Schema {
            file: file.path.clone(),
            column: Some(column.to_owned()),
            source: format!(
                "{what}; the files of one ingest must have the same columns (the schema drifted: \
                 ingest these files separately, or make them agree)"
            )
            .into(),
        };
        let first = self.file.display();
        for (name, data_type) in &self.columns {
            match schema.field_with_name(name) {
                Err(_) => {
                    return Err(drift(
                        name,
                        format!("column {name:?} of the first file ({first}) is missing here"),
                    ));
                }
                Ok(f) if file.format == self.format && f.data_type() != data_type => {
                    return Err(drift(
                        name,
                        format!(
                            "column {name:?} is {} here but {data_type} in the first file ({first})",
                            f.data_type()
                        ),
                    ));
                }
                Ok(_) => {}
            }
        }
        let extra = schema.fields().iter().find(|f| {
            group.feature(f.name()).is_some() && !self.columns.iter().any(|(n, _)| n == f.name())
        });
        match extra {
            Some(f) => Err(drift(
                f.name(),
                format!("column {:?} is not in the first file ({first})", f.name()),
            )),
            None => Ok(()),
        }
    }
}

/// Reads one file; `Ok(false)` when the writer hung up.
fn read_one(
    ctx: &SourceCtx,
    file: &SourceFile,
    options: &IngestOptions,
    tx: &mpsc::Sender<Item>,
    reference: &mut Option<Reference>,
) -> Result<bool> {
    let batches = read_file(file, &ctx.group, options)?;
    let schema = batches.schema();
    let compared = file.format != Format::JsonLines;
    if compared && let Some(r) = reference.as_ref() {
        r.check(file, &schema, &ctx.group)?;
    }
    // Whole-file problems (a missing identifier column, an unknown column,
    // a column of a type no feature can hold) show on an empty batch.
    check_schema(&schema, &ctx.group, &ctx.cast).map_err(|e| match e {
        Error::Schema { column, source, .. } => Error::Schema {
            file: file.path.clone(),
            column,
            source,
        },
        other => other,
    })?;
    if compared && reference.is_none() {
        *reference = Some(Reference::new(file, &schema, &ctx.group));
    }
    for batch in batches {
        let prepared = prepare(ctx, batch?, None)?;
        if tx.blocking_send(Item::Batch(prepared)).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Skips resumed rows and other shards' rows, then casts. `batch` is the
/// number of a stream's batch (`None` for a file).
fn prepare(ctx: &SourceCtx, mut sb: SourceBatch, batch: Option<u64>) -> Result<Prepared> {
    let covered = sb.rows_covered();
    let mut rows_resumed = 0;
    if ctx.rows_done >= sb.first_row {
        let done = ctx.rows_done;
        let keep: Vec<bool> = sb.provenance.rows.iter().map(|&r| r > done).collect();
        sb.retain(&keep, |f| f.row > done)?;
        rows_resumed = covered - sb.rows_covered();
    }
    let rows_other_shards = match ctx.record_shard {
        Some((index, count)) => retain_rows_of_shard(
            &mut sb,
            &ctx.relative,
            &ctx.group.record_identifier_feature_name,
            index,
            count,
        )?,
        None => 0,
    };
    let rows_read = sb.rows_covered();
    reject_empty_identifiers(&mut sb, &ctx.group, batch)?;
    let outcome = cast_batch_lenient(&sb.batch, &ctx.group, &ctx.cast)
        .map_err(|e| ctx.schema_error(batch, Some(sb.first_row), e))?;
    let mut failures = sb.failures;
    let bad: HashSet<usize> = outcome.failures.iter().map(|f| f.row).collect();
    let csv = ctx.csv;
    for f in outcome.failures {
        // In CSV a null is an empty cell: say so.
        let reason = match f.reason.strip_prefix("is null;") {
            Some(rest) if csv && f.value.is_none() => format!("is empty (a missing value);{rest}"),
            _ => f.reason,
        };
        failures.push(Failure {
            file: ctx.path.clone(),
            row: sb.provenance.rows[f.row],
            batch,
            column: Some(f.column),
            stage: Stage::Cast,
            reason,
            value: f.value,
            values: row_values(&sb.batch, f.row),
        });
    }
    failures.sort_by_key(|f| f.row);
    let provenance = if bad.is_empty() {
        sb.provenance
    } else {
        Provenance {
            file: sb.provenance.file.clone(),
            rows: sb
                .provenance
                .rows
                .iter()
                .enumerate()
                .filter(|(i, _)| !bad.contains(i))
                .map(|(_, r)| *r)
                .collect(),
        }
    };
    tracing::trace!(
        file = ctx.index,
        rows = rows_read,
        failed = failures.len(),
        "prepared a batch"
    );
    Ok(Prepared {
        file: ctx.index,
        batch,
        typed: outcome.batch,
        provenance,
        failures,
        rows_read,
        last_row: sb.last_row,
        bytes: sb.bytes,
        rows_resumed,
        rows_other_shards,
    })
}

/// Fails the rows whose record identifier is empty text (`""`): every
/// record needs one, and an empty CSV cell, a JSON `""` or an empty
/// Parquet string would otherwise be stored as the record `""`. (A null
/// identifier is the cast's to refuse.)
fn reject_empty_identifiers(
    sb: &mut SourceBatch,
    group: &FeatureGroup,
    batch: Option<u64>,
) -> Result<()> {
    let name = &group.record_identifier_feature_name;
    let Some(column) = sb.batch.column_by_name(name) else {
        return Ok(());
    };
    if !matches!(
        column.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
    ) {
        return Ok(());
    }
    let Ok(text) = arrow_cast::cast(column, &DataType::Utf8) else {
        return Ok(());
    };
    let text = text.as_string::<i32>();
    let keep: Vec<bool> = text.iter().map(|v| v != Some("")).collect();
    if keep.iter().all(|&k| k) {
        return Ok(());
    }
    let empty: Vec<Failure> = keep
        .iter()
        .enumerate()
        .filter(|(_, k)| !**k)
        .map(|(i, _)| Failure {
            file: sb.provenance.file.to_path_buf(),
            row: sb.provenance.rows[i],
            batch,
            column: Some(name.clone()),
            stage: Stage::Cast,
            reason: "is empty; every record needs a record identifier".into(),
            value: Some(String::new()),
            values: row_values(&sb.batch, i),
        })
        .collect();
    sb.retain(&keep, |_| true)?;
    sb.failures.extend(empty);
    Ok(())
}

/// The values of row `i` of `batch` as a record (nulls left out).
pub(crate) fn row_values(batch: &RecordBatch, i: usize) -> Record {
    batch_to_records(&batch.slice(i, 1))
        .ok()
        .and_then(|mut r| r.pop())
        .unwrap_or_default()
}
