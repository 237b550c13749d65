//! The native latest-per-record path of the embedded engine: the same rows
//! as the SQL plan for a base group with one row per record and no joins,
//! in two passes over the Parquet files and no sort.
//!
//! 1. **Keys** ([`keys`]): the five key columns (identifier, event time,
//!    `write_time`, `api_invocation_time`, `is_deleted`) of every row group
//!    are read in parallel, `as_of` and the event-time range applied, and
//!    the winning row of each identifier kept in a hash table: newest event
//!    time, then `api_invocation_time`, then `write_time`, a delete marker
//!    on a tie (the ordering of `docs/semantics.md`). A record whose winner
//!    is a delete marker is dropped (unless deleted records are included).
//!    The tables hold one slot per identifier; past a memory budget the
//!    identifiers are split by hash over several passes.
//! 2. **Rows**: each row group is read again with a Parquet row selection of
//!    its winners and only the output columns, row groups in parallel and
//!    their batches streamed in file order.
//!
//! Memory is the identifier tables (bounded by the budget) plus a few
//! batches per row group in flight; no step holds the wide rows.

mod keys;

use std::ops::Range;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::StreamExt;
use parquet::arrow::arrow_reader::RowSelection;

use crate::engine::BatchStream;
use crate::engine::EngineOptions;
use crate::error::{Error, Result};
use crate::read::OpenFile;
use crate::spec::{API_INVOCATION_TIME, Base, DatasetSpec, IS_DELETED, WRITE_TIME};
use crate::sql::{Dialect, TableRef, render};
use crate::table::{OfflineTable, key_columns, read_columns};

/// Bytes of identifier tables when the engine has no memory limit.
const DEFAULT_KEY_BUDGET: usize = 512 << 20;
/// The least budget, however small the memory limit: below it the passes
/// would multiply for nothing.
const MIN_KEY_BUDGET: usize = 1 << 20;

/// Whether `spec` is one this path builds: a base group, one row per record
/// (the default, or `recent_records_per_id(1)`), no joins.
pub(crate) fn applies(spec: &DatasetSpec) -> bool {
    let one_per_record = match spec.recent_records_per_id {
        Some(n) => n == 1,
        None => !spec.include_duplicated_records,
    };
    matches!(spec.base, Base::Group(_)) && spec.joins.is_empty() && one_per_record
}

/// Builds `spec` (one that [`applies`]) over `table`'s files.
pub(crate) async fn execute(
    table: &OfflineTable,
    spec: &DatasetSpec,
    options: &EngineOptions,
) -> Result<BatchStream> {
    let Base::Group(group) = &spec.base else {
        return Err(Error::InvalidDataset(
            "the native latest-per-record path reads a base group".into(),
        ));
    };
    // The SQL path's checks (reserved and unknown names), with its errors.
    render(spec, Dialect::DataFusion, &|_| Ok(TableRef::new("fs_base")))?;
    let mut columns = spec.base_features();
    if spec.include_metadata {
        columns.extend([WRITE_TIME, API_INVOCATION_TIME, IS_DELETED].map(String::from));
    }
    let out_schema = read_columns(group, &columns)?;
    let key_schema = key_columns(group)?;
    let paths = table.files(spec.event_time_from, spec.event_time_to)?;
    if paths.is_empty() || spec.limit == Some(0) {
        return Ok(BatchStream::empty(out_schema));
    }
    let workers = options.target_partitions.max(1);
    let key_spec = keys::KeySpec {
        schema: key_schema,
        as_of: spec.as_of.map(|t| t.as_millis()),
        from: spec.event_time_from.map(|t| t.as_millis()),
        to: spec.event_time_to.map(|t| t.as_millis()),
        keep_deleted: spec.include_deleted_records,
        budget: options
            .memory_limit
            .map_or(DEFAULT_KEY_BUDGET, |limit| limit / 2)
            .max(MIN_KEY_BUDGET),
        workers,
        batch_size: options.batch_size.max(1),
    };
    let (files, jobs) = tokio::task::spawn_blocking(move || -> Result<_> {
        let files = paths
            .iter()
            .map(|f| OpenFile::open(&f.path))
            .collect::<Result<Vec<_>>>()?;
        let winners = keys::winners(&files, &key_spec)?;
        let jobs = row_jobs(&files, &winners);
        Ok((files, jobs))
    })
    .await
    .map_err(|e| Error::InvalidDataset(format!("the latest-per-record pass failed: {e}")))??;
    tracing::debug!(
        group = %group.feature_group_name,
        files = files.len(),
        row_groups = jobs.len(),
        rows = jobs.iter().map(|j| j.rows).sum::<usize>(),
        "latest rows chosen"
    );
    let files = Arc::new(files);
    let batch_size = options.batch_size.max(1);
    let schema = out_schema.clone();
    let rows = futures::stream::iter(jobs)
        .map(move |job| {
            let files = files.clone();
            let schema = schema.clone();
            async move { read_rows(files, job, schema, batch_size) }
        })
        .buffered(workers)
        .flatten()
        .filter(|b| std::future::ready(b.as_ref().map_or(true, |b| b.num_rows() > 0)));
    Ok(match spec.limit {
        None => BatchStream::new(out_schema, rows),
        Some(limit) => BatchStream::new(out_schema, crate::scan::take_rows(rows, limit)),
    })
}

/// The rows to read from one row group.
#[derive(Debug)]
struct RowJob {
    file: usize,
    row_group: usize,
    /// Row-group row ranges, sorted.
    ranges: Vec<Range<usize>>,
    /// Rows in the row group.
    total: usize,
    /// Rows selected.
    rows: usize,
}

/// The row groups holding winners, in file order, with their selections.
fn row_jobs(files: &[OpenFile], winners: &[Vec<u32>]) -> Vec<RowJob> {
    let mut jobs = Vec::new();
    for (f, (file, rows)) in files.iter().zip(winners).enumerate() {
        let mut rows = rows.iter().map(|&r| r as usize).peekable();
        for unit in file.units(u32::try_from(f).unwrap_or(u32::MAX)) {
            let end = unit.first_row + unit.rows;
            let mut ranges: Vec<Range<usize>> = Vec::new();
            let mut selected = 0;
            while let Some(row) = rows.next_if(|&r| r < end) {
                let local = row - unit.first_row;
                selected += 1;
                match ranges.last_mut() {
                    Some(last) if last.end == local => last.end += 1,
                    _ => ranges.push(local..local + 1),
                }
            }
            if selected > 0 {
                jobs.push(RowJob {
                    file: f,
                    row_group: unit.row_group,
                    ranges,
                    total: unit.rows,
                    rows: selected,
                });
            }
        }
    }
    jobs
}

/// Reads one job's rows on the blocking pool, a few batches ahead of the
/// consumer; dropping the stream stops the read.
fn read_rows(
    files: Arc<Vec<OpenFile>>,
    job: RowJob,
    schema: SchemaRef,
    batch_size: usize,
) -> impl futures::Stream<Item = Result<RecordBatch>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    tokio::task::spawn_blocking(move || {
        let file = &files[job.file];
        let selection = RowSelection::from_consecutive_ranges(job.ranges.into_iter(), job.total);
        let reader = match file.reader(job.row_group, &schema, Some(selection), batch_size) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        for batch in reader {
            let failed = batch.is_err();
            if tx.blocking_send(batch).is_err() || failed {
                return;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}
