//! The native point-in-time join of the embedded engine: the rows of the
//! SQL plan (`crate::sql`, which stays the reference), without pairing
//! each entity row with every earlier feature row.
//!
//! For each joined group an [`Index`] holds, per record, the sorted event
//! times of the rows a match can pick (steps 1–3 of the semantics applied
//! once, see [`index`]) and those rows' features. The entity rows (an
//! entity table, or the base group's rows) then stream through: each batch
//! is matched on the blocking pool, batches in parallel, by a hash lookup
//! of its key and a binary search of its time, and leaves with the joined
//! features taken from the index. Entity rows keep their input order; an
//! inner join drops the rows without a match.
//!
//! Cost: O(m log m) for the m rows of the joined groups, plus O(n log h)
//! for n entity rows and records of at most h versions, whatever the
//! number of records, the length of their histories or the skew. Memory:
//! the indexes (see [`index`]) and a few entity batches in flight; the
//! entity rows are never held.

mod index;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;

use crate::columns::{Ids, NULL, entity_times};
use crate::engine::BatchStream;
use crate::error::{Error, Result};
use crate::read::OpenFile;
use crate::spec::{DatasetSpec, JoinSpec, JoinType};
use crate::table::{OfflineTable, key_columns, read_columns};
use index::{Index, IndexSpec};

/// How the join runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Threads and batches in flight.
    pub(crate) workers: usize,
    /// Rows per batch read from the offline files.
    pub(crate) batch_size: usize,
    /// The engine's memory limit, checked before the indexes are built.
    pub(crate) memory_limit: Option<usize>,
}

/// The entity rows a dataset's joins match.
pub(crate) struct EntityRows {
    /// The rows (with at least the time column and every join column).
    pub(crate) rows: BatchStream,
    /// The column holding each row's time.
    pub(crate) time_column: String,
    /// The column joins match on unless they name another.
    pub(crate) default_on: String,
    /// The entity columns the output keeps, in order.
    pub(crate) output: Vec<String>,
    /// The same rows once more (at least the time and join columns), read
    /// before the features when the entity rows can be read twice: only
    /// the feature rows some entity row matches are then read and held.
    pub(crate) probe: Option<BatchStream>,
}

/// One joined group, indexed.
struct Join {
    index: Index,
    /// The entity column matched against the group's identifier.
    on: String,
    /// The Arrow type the identifiers are compared as.
    key_type: DataType,
    max_age: Option<i64>,
    inner: bool,
}

/// Bytes an index needs per feature row while it is built (see [`index`]).
const INDEX_BYTES_PER_ROW: usize = 64;

/// Joins `spec.joins` onto `entities`, point-in-time (`tables` holds each
/// joined group's offline table, in the order of `spec.joins`).
pub(crate) async fn join(
    spec: &DatasetSpec,
    entities: EntityRows,
    tables: Vec<OfflineTable>,
    settings: Settings,
) -> Result<BatchStream> {
    let entity_schema = entities.rows.schema();
    let mut fields: Vec<Field> = entities
        .output
        .iter()
        .map(|c| {
            entity_schema
                .field_with_name(c)
                .cloned()
                .map_err(|_| Error::InvalidDataset(format!("the entity rows have no column `{c}`")))
        })
        .collect::<Result<_>>()?;
    let mut joins = Vec::with_capacity(spec.joins.len());
    for (join, table) in spec.joins.iter().zip(tables) {
        let (built, features) = build(spec, join, table, settings).await?;
        let on = join
            .entity_column
            .clone()
            .unwrap_or_else(|| entities.default_on.clone());
        if entity_schema.field_with_name(&on).is_err() {
            return Err(Error::InvalidDataset(format!(
                "the join of `{}` is on `{on}`, which the entity rows do not have",
                join.group.feature_group_name
            )));
        }
        for ((name, _), f) in join.output_features().iter().zip(features.fields()) {
            fields.push(Field::new(name, f.data_type().clone(), true));
        }
        joins.push(Join {
            key_type: crate::passes::key_type(&join.group),
            index: built,
            on,
            max_age: join.max_age_ms(),
            inner: join.join_type == JoinType::Inner,
        });
    }
    let joins = read_features(joins, entities.probe, &entities.time_column).await?;
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let plan = Arc::new(Plan {
        joins,
        schema: schema.clone(),
        time_column: entities.time_column,
        output: entities.output,
    });
    let rows = entities
        .rows
        .scan(0usize, |seen, batch| {
            let first = *seen;
            if let Ok(b) = &batch {
                *seen += b.num_rows();
            }
            std::future::ready(Some((first, batch)))
        })
        .map(move |(first, batch)| {
            let plan = plan.clone();
            async move {
                let batch = batch?;
                tokio::task::spawn_blocking(move || plan.apply(first, &batch))
                    .await
                    .map_err(|e| {
                        Error::InvalidDataset(format!("the point-in-time join failed: {e}"))
                    })?
            }
        })
        .buffered(settings.workers.max(1))
        .filter(|b| std::future::ready(b.as_ref().map_or(true, |b| b.num_rows() > 0)));
    Ok(match spec.limit {
        None => BatchStream::new(schema, rows),
        Some(limit) => BatchStream::new(schema, crate::scan::take_rows(rows, limit)),
    })
}

/// The index of one joined group (on the blocking pool) and the schema of
/// its output features.
async fn build(
    spec: &DatasetSpec,
    join: &JoinSpec,
    table: OfflineTable,
    settings: Settings,
) -> Result<(Index, SchemaRef)> {
    let group = &join.group;
    let keys = key_columns(group)?;
    let features = read_columns(
        group,
        &join
            .output_features()
            .into_iter()
            .map(|(_, f)| f)
            .collect::<Vec<_>>(),
    )?;
    let index_spec = IndexSpec {
        keys,
        features: features.clone(),
        as_of: spec.as_of.map(|t| t.as_millis()),
        dedupe: !spec.include_duplicated_records,
        hide_deleted: !spec.include_deleted_records,
        workers: settings.workers.max(1),
        batch_size: settings.batch_size.max(1),
    };
    let paths = table.files(None, None)?;
    let name = group.feature_group_name.clone();
    let index = tokio::task::spawn_blocking(move || -> Result<Index> {
        let files = paths
            .iter()
            .map(|f| OpenFile::open(&f.path))
            .collect::<Result<Vec<_>>>()?;
        check_memory(&name, &files, &index_spec, settings.memory_limit)?;
        Index::keys(files, index_spec)
    })
    .await
    .map_err(|e| Error::InvalidDataset(format!("indexing a joined group failed: {e}")))??;
    Ok((index, features))
}

/// Reads each join's features (on the blocking pool): of the candidates the
/// `probe` rows match when there is a probe, else of every candidate.
async fn read_features(
    joins: Vec<Join>,
    probe: Option<BatchStream>,
    time_column: &str,
) -> Result<Vec<Join>> {
    let time_column = time_column.to_owned();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<Vec<Join>> {
        let mut joins = joins;
        let Some(mut probe) = probe else {
            for join in &mut joins {
                join.index.read_features(None)?;
            }
            return Ok(joins);
        };
        let mut needed: Vec<Vec<bool>> = joins
            .iter()
            .map(|j| vec![false; j.index.candidates()])
            .collect();
        let mut first = 0;
        while let Some(batch) = handle.block_on(probe.next()) {
            let batch = batch?;
            let times = times_of(&batch, &time_column, first)?;
            for (join, needed) in joins.iter().zip(&mut needed) {
                join.mark(column(&batch, &join.on)?, &times, needed)?;
            }
            first += batch.num_rows();
        }
        for (join, needed) in joins.iter_mut().zip(&needed) {
            join.index.read_features(Some(needed))?;
        }
        Ok(joins)
    })
    .await
    .map_err(|e| Error::InvalidDataset(format!("reading joined features failed: {e}")))?
}

/// The entity times of `batch` (whose first row is entity row `first`).
fn times_of(batch: &RecordBatch, time_column: &str, first: usize) -> Result<Vec<i64>> {
    entity_times(column(batch, time_column)?, time_column).map_err(|(row, reason)| {
        Error::InvalidDataset(format!("entity row {}: {reason}", first + row + 1))
    })
}

/// Fails before building when the index of `files` would outgrow `limit`.
fn check_memory(
    group: &str,
    files: &[OpenFile],
    spec: &IndexSpec,
    limit: Option<usize>,
) -> Result<()> {
    let Some(limit) = limit else { return Ok(()) };
    let rows: usize = files.iter().flat_map(|f| f.units(0)).map(|u| u.rows).sum();
    let per_row = INDEX_BYTES_PER_ROW + 8 * spec.features.fields().len();
    let need = rows.saturating_mul(per_row);
    if need > limit {
        return Err(Error::InvalidDataset(format!(
            "the point-in-time join of feature group `{group}` needs about {} for its {rows} \
             rows, over the engine's memory limit of {}; raise EngineOptions::memory_limit \
             (`dataset --memory-limit` on the command line), join fewer features, or narrow the \
             data with as_of",
            crate::error::bytes_text(need),
            crate::error::bytes_text(limit)
        )));
    }
    Ok(())
}

/// The joins, ready to apply to entity batches.
struct Plan {
    joins: Vec<Join>,
    schema: SchemaRef,
    time_column: String,
    output: Vec<String>,
}

impl Plan {
    /// One entity batch with every join's features (rows of inner joins
    /// without a match dropped).
    /// `first` is the number of the batch's first entity row (for errors).
    fn apply(&self, first: usize, batch: &RecordBatch) -> Result<RecordBatch> {
        let times = times_of(batch, &self.time_column, first)?;
        let mut columns: Vec<ArrayRef> = self
            .output
            .iter()
            .map(|c| column(batch, c).cloned())
            .collect::<Result<_>>()?;
        let mut keep: Option<Vec<bool>> = None;
        for join in &self.joins {
            let matches = join.matches(column(batch, &join.on)?, &times)?;
            for feature in &join.index.features {
                columns.push(
                    arrow_select::take::take(feature, &matches, None).map_err(|e| {
                        Error::InvalidDataset(format!("taking joined features: {e}"))
                    })?,
                );
            }
            if join.inner {
                let keep = keep.get_or_insert_with(|| vec![true; batch.num_rows()]);
                for (k, m) in keep.iter_mut().zip(matches.iter()) {
                    *k &= m.is_some();
                }
            }
        }
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let out = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| Error::InvalidDataset(format!("joining features: {e}")))?;
        match keep {
            Some(keep) if keep.iter().any(|k| !k) => {
                arrow_select::filter::filter_record_batch(&out, &BooleanArray::from(keep))
                    .map_err(|e| Error::InvalidDataset(format!("dropping unmatched rows: {e}")))
            }
            _ => Ok(out),
        }
    }
}

impl Join {
    /// `on` as the group's identifier type; a value that is not one (text
    /// against a numeric identifier) becomes null and matches nothing.
    fn keys(&self, on: &ArrayRef) -> Result<ArrayRef> {
        if on.data_type() == &self.key_type {
            return Ok(on.clone());
        }
        arrow_cast::cast(on, &self.key_type)
            .map_err(|e| Error::InvalidDataset(format!("comparing join keys: {e}")))
    }

    /// Marks in `needed` the candidate each entity row matches.
    fn mark(&self, on: &ArrayRef, times: &[i64], needed: &mut [bool]) -> Result<()> {
        let keys = self.keys(on)?;
        let ids = Ids::new(&keys);
        let mut scratch = [0u8; 8];
        for (i, &t) in times.iter().enumerate() {
            if t == NULL {
                continue;
            }
            if let Some(key) = ids.key(i, &mut scratch)
                && let Some(p) = self.index.position(key, t, self.max_age)
            {
                needed[p] = true;
            }
        }
        Ok(())
    }

    /// Each entity row's matched row in the index's features (null: none).
    fn matches(&self, on: &ArrayRef, times: &[i64]) -> Result<UInt32Array> {
        let keys = self.keys(on)?;
        let ids = Ids::new(&keys);
        let mut scratch = [0u8; 8];
        Ok(times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                if t == NULL {
                    return None;
                }
                let key = ids.key(i, &mut scratch)?;
                self.index.lookup(key, t, self.max_age)
            })
            .collect())
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::InvalidDataset(format!("the entity rows have no column `{name}`")))
}
