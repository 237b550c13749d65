//! Shared helpers of the local-side tests: groups, offline files written by
//! fs-local or by hand (with chosen metadata), reading results back, and a
//! plain-Rust reference implementation of the dataset semantics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use fs_schema::{EventTime, FeatureDefinition, FeatureGroup, FeatureType, OnlineStoreConfig};
use parquet::arrow::ArrowWriter;

/// A group: `id` (String), `ts` (String or Fractional event time),
/// `a` (Integral), `b` (Fractional), `s` (String).
pub(crate) fn group(name: &str, event_time: FeatureType) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::new("ts", event_time),
            FeatureDefinition::integral("a"),
            FeatureDefinition::fractional("b"),
            FeatureDefinition::string("s"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bucket/prefix")
        .build()
        .unwrap()
}

/// Milliseconds of an ISO-8601 instant.
pub(crate) fn ms(iso: &str) -> i64 {
    EventTime::parse_iso(iso).unwrap().as_millis()
}

/// One offline row with chosen metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub id: String,
    /// The event time in milliseconds.
    pub et: i64,
    /// The event time as written for String groups (default: ISO with `.SSS`).
    pub et_text: Option<String>,
    pub a: Option<i64>,
    pub write_time: i64,
    pub api: i64,
    pub deleted: bool,
}

impl Row {
    pub(crate) fn put(id: &str, et: i64, a: i64, api: i64, write_time: i64) -> Self {
        Self {
            id: id.into(),
            et,
            et_text: None,
            a: Some(a),
            write_time,
            api,
            deleted: false,
        }
    }

    pub(crate) fn delete(id: &str, et: i64, api: i64, write_time: i64) -> Self {
        Self {
            id: id.into(),
            et,
            et_text: None,
            a: None,
            write_time,
            api,
            deleted: true,
        }
    }

    pub(crate) fn with_text(mut self, text: &str) -> Self {
        self.et_text = Some(text.into());
        self
    }

    fn et_string(&self) -> String {
        self.et_text
            .clone()
            .unwrap_or_else(|| EventTime::from_millis(self.et).unwrap().to_iso())
    }
}

static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `rows` of `group` under `dir` in the Glue layout, one file per
/// event-time hour, typed as fs-local types its files. `b` is `a / 2` and
/// `s` is `"s<a>"` (null with `a`).
pub(crate) fn write_rows(dir: &Path, group: &FeatureGroup, rows: &[Row]) -> Vec<PathBuf> {
    write_rows_grouped(dir, group, rows, None)
}

/// [`write_rows`] with at most `row_group` rows per Parquet row group.
pub(crate) fn write_rows_grouped(
    dir: &Path,
    group: &FeatureGroup,
    rows: &[Row],
    row_group: Option<usize>,
) -> Vec<PathBuf> {
    let mut parts: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        let part = fs_schema::layout::partition(EventTime::from_millis(r.et).unwrap());
        parts.entry(part).or_default().push(r);
    }
    let schema = fs_local::offline_schema(group);
    let mut files = Vec::new();
    for (part, rows) in parts {
        let mut columns: Vec<ArrayRef> = Vec::new();
        for field in schema.fields() {
            let col: ArrayRef = match field.name().as_str() {
                "id" => Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.id.clone()),
                )),
                "ts" => match group.event_time().feature_type {
                    FeatureType::String => Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.et_string()),
                    )),
                    _ => Arc::new(Float64Array::from_iter_values(
                        rows.iter().map(|r| r.et as f64 / 1000.0),
                    )),
                },
                "a" => Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.a))),
                "b" => Arc::new(Float64Array::from_iter(
                    rows.iter().map(|r| r.a.map(|a| a as f64 / 2.0)),
                )),
                "s" => Arc::new(StringArray::from_iter(
                    rows.iter().map(|r| r.a.map(|a| format!("s{a}"))),
                )),
                "write_time" => ts_ms(rows.iter().map(|r| r.write_time)),
                "api_invocation_time" => ts_ms(rows.iter().map(|r| r.api)),
                "is_deleted" => Arc::new(BooleanArray::from_iter(
                    rows.iter().map(|r| Some(r.deleted)),
                )),
                other => panic!("unexpected column {other}"),
            };
            columns.push(col);
        }
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let seq = FILE_SEQ.fetch_add(1, Ordering::SeqCst);
        let path = dir.join(&part).join(format!("rows_{seq:016x}.parquet"));
        write_batch_grouped(&path, &batch, row_group);
        files.push(path);
    }
    files
}

fn ts_ms(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter_values(values).with_timezone("UTC"))
}

/// Writes one batch to a Parquet file, creating directories.
pub(crate) fn write_batch(path: &Path, batch: &RecordBatch) {
    write_batch_grouped(path, batch, None);
}

/// [`write_batch`] with at most `row_group` rows per row group.
fn write_batch_grouped(path: &Path, batch: &RecordBatch, row_group: Option<usize>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = row_group.map(|n| {
        parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(n))
            .build()
    });
    let mut w = ArrowWriter::try_new(file, batch.schema(), props).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// A cell of a result, comparable and printable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// A float's `{:?}` text.
    Float(String),
    Str(String),
    /// A timestamp in milliseconds (any unit, converted).
    Millis(i64),
}

pub(crate) fn cell(array: &dyn Array, i: usize) -> Cell {
    if array.is_null(i) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Boolean => Cell::Bool(array.as_boolean().value(i)),
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Cell::Float(format!(
            "{:?}",
            array.as_primitive::<Float64Type>().value(i)
        )),
        DataType::Utf8 => Cell::Str(array.as_string::<i32>().value(i).to_string()),
        DataType::Utf8View => Cell::Str(array.as_string_view().value(i).to_string()),
        DataType::LargeUtf8 => Cell::Str(array.as_string::<i64>().value(i).to_string()),
        DataType::Timestamp(unit, _) => Cell::Millis(match unit {
            TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i) * 1000,
            TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
            TimeUnit::Microsecond => {
                array.as_primitive::<TimestampMicrosecondType>().value(i) / 1000
            }
            TimeUnit::Nanosecond => {
                array.as_primitive::<TimestampNanosecondType>().value(i) / 1_000_000
            }
        }),
        other => panic!("no cell for {other}"),
    }
}

/// The rows of `batches` (the named columns, in order), sorted.
pub(crate) fn rows(batches: &[RecordBatch], columns: &[&str]) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<&ArrayRef> = columns
            .iter()
            .map(|c| {
                b.column_by_name(c)
                    .unwrap_or_else(|| panic!("no column {c} in {:?}", b.schema()))
            })
            .collect();
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|c| cell(c.as_ref(), i)).collect());
        }
    }
    out.sort();
    out
}

/// Column names of a result.
pub(crate) fn names(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn total_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// `(id, a)` of a result, sorted: the common shape of expectations.
pub(crate) fn id_a(batches: &[RecordBatch]) -> Vec<(String, Option<i64>)> {
    rows(batches, &["id", "a"])
        .into_iter()
        .map(|r| match (&r[0], &r[1]) {
            (Cell::Str(id), Cell::Int(a)) => (id.clone(), Some(*a)),
            (Cell::Str(id), Cell::Null) => (id.clone(), None),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

pub(crate) fn expect(pairs: &[(&str, Option<i64>)]) -> Vec<(String, Option<i64>)> {
    let mut v: Vec<_> = pairs.iter().map(|(i, a)| (i.to_string(), *a)).collect();
    v.sort();
    v
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every `.parquet` file under `dir`.
pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every batch of a Parquet file.
pub(crate) fn read_all(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// `batch` with columns renamed and some dropped.
pub(crate) fn rename(batch: &RecordBatch, renames: &[(&str, &str)], drop: &[&str]) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if drop.contains(&field.name().as_str()) {
            continue;
        }
        let name = renames
            .iter()
            .find(|(from, _)| from == field.name())
            .map_or(field.name().as_str(), |(_, to)| to);
        fields.push(field.as_ref().clone().with_name(name));
        columns.push(col.clone());
    }
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap()
}

/// `batch` with one more (nullable) column at the end.
pub(crate) fn with_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let mut fields: Vec<arrow_schema::Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(arrow_schema::Field::new(
        name,
        column.data_type().clone(),
        true,
    ));
    let mut columns = batch.columns().to_vec();
    columns.push(column);
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap()
}
