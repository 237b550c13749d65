//! Key columns read natively, the way the SQL plan reads them: record
//! identifiers as hashable bytes, and event or entity times as
//! milliseconds since the epoch. Shared by the native latest-per-record
//! path and the native point-in-time join, so both compare identifiers
//! and times exactly as the SQL they replace.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};

/// A null time or flag: below every value, as `NULLS LAST` in a
/// newest-first order needs.
pub(crate) const NULL: i64 = i64::MIN;

/// The identifier column of a batch, as hashable bytes.
pub(crate) enum Ids<'a> {
    Utf8(&'a arrow_array::StringArray),
    Int64(&'a arrow_array::Int64Array),
    Float64(&'a arrow_array::Float64Array),
}

impl<'a> Ids<'a> {
    /// `column` (`Int64`, `Float64` or `Utf8`; anything else is read as
    /// `Utf8`, so callers cast first).
    pub(crate) fn new(column: &'a ArrayRef) -> Self {
        match column.data_type() {
            DataType::Int64 => Self::Int64(column.as_primitive::<Int64Type>()),
            DataType::Float64 => Self::Float64(column.as_primitive::<Float64Type>()),
            _ => Self::Utf8(column.as_string::<i32>()),
        }
    }

    /// Row `i`'s identifier as bytes; `None` when null (such rows are no
    /// record's, as in the SQL engine).
    pub(crate) fn key<'b>(&'b self, i: usize, scratch: &'b mut [u8; 8]) -> Option<&'b [u8]> {
        match self {
            Self::Utf8(a) => (!a.is_null(i)).then(|| a.value(i).as_bytes()),
            Self::Int64(a) => (!a.is_null(i)).then(|| {
                *scratch = a.value(i).to_le_bytes();
                &scratch[..]
            }),
            Self::Float64(a) => (!a.is_null(i)).then(|| {
                // -0.0 and 0.0 are one identifier, as SQL equality has it.
                let v = a.value(i);
                let v = if v == 0.0 { 0.0f64 } else { v };
                *scratch = v.to_bits().to_le_bytes();
                &scratch[..]
            }),
        }
    }
}

/// Event times in milliseconds, as the SQL engine computes them
/// (`to_timestamp_millis` of an ISO-8601 string, `round(x * 1000)` of
/// seconds); `Err((row, reason))` for a string that is not a time.
pub(crate) fn event_times(
    column: &ArrayRef,
    name: &str,
) -> std::result::Result<Vec<i64>, (usize, String)> {
    let n = column.len();
    let mut out = Vec::with_capacity(n);
    match column.data_type() {
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    NULL
                } else {
                    seconds_to_millis(a.value(i))
                });
            }
        }
        DataType::Int64 => {
            let a = column.as_primitive::<Int64Type>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    NULL
                } else {
                    a.value(i).checked_mul(1000).unwrap_or(NULL)
                });
            }
        }
        _ => {
            let a = column.as_string::<i32>();
            for i in 0..n {
                if a.is_null(i) {
                    out.push(NULL);
                    continue;
                }
                let s = a.value(i);
                let nanos = arrow_cast::parse::string_to_timestamp_nanos(s).map_err(|e| {
                    (
                        i,
                        format!("`{s}` is not an ISO-8601 time for `{name}` ({e})"),
                    )
                })?;
                out.push(nanos / 1_000_000);
            }
        }
    }
    Ok(out)
}

/// The times of an entity table's time column in milliseconds, as the SQL
/// plan computes them for each [`crate::sql::TimeEncoding`]: ISO-8601
/// strings parsed, seconds times 1000 and rounded, timestamps in
/// milliseconds. Nulls are [`NULL`].
pub(crate) fn entity_times(
    column: &ArrayRef,
    name: &str,
) -> std::result::Result<Vec<i64>, (usize, String)> {
    let cast = |to: &DataType| {
        arrow_cast::cast(column, to).map_err(|e| (0, format!("column `{name}`: {e}")))
    };
    match column.data_type() {
        DataType::Utf8 | DataType::Int64 | DataType::Float64 => event_times(column, name),
        DataType::LargeUtf8 | DataType::Utf8View => event_times(&cast(&DataType::Utf8)?, name),
        DataType::Int32 | DataType::Float32 | DataType::Decimal128(..) => {
            event_times(&cast(&DataType::Float64)?, name)
        }
        DataType::Timestamp(_, zone) => {
            let ms = cast(&DataType::Timestamp(TimeUnit::Millisecond, zone.clone()))?;
            let a = ms.as_primitive::<TimestampMillisecondType>();
            Ok((0..a.len())
                .map(|i| if a.is_null(i) { NULL } else { a.value(i) })
                .collect())
        }
        other => Err((
            0,
            format!(
                "the time column `{name}` is {other}, not an ISO-8601 string, \
                 seconds since the epoch or a timestamp"
            ),
        )),
    }
}

/// Seconds since the epoch as milliseconds, rounded (`NULL` when out of range).
pub(crate) fn seconds_to_millis(seconds: f64) -> i64 {
    let ms = (seconds * 1000.0).round();
    if ms.is_finite() && ms > i64::MIN as f64 && ms < i64::MAX as f64 {
        ms as i64
    } else {
        NULL
    }
}

/// The metadata columns of a batch of key columns (identifier, event time,
/// `write_time`, `api_invocation_time`, `is_deleted`, in that order), read
/// the way both native paths order rows: null times are [`NULL`], and the
/// delete flag is 0 for null, 1 for false, 2 for true
/// (`is_deleted DESC NULLS LAST`).
pub(crate) struct Versions<'a> {
    write: &'a arrow_array::TimestampMillisecondArray,
    api: &'a arrow_array::TimestampMillisecondArray,
    deleted: &'a arrow_array::BooleanArray,
}

impl<'a> Versions<'a> {
    /// Columns 2, 3 and 4 of `batch`.
    pub(crate) fn new(batch: &'a arrow_array::RecordBatch) -> Self {
        Self {
            write: batch.column(2).as_primitive::<TimestampMillisecondType>(),
            api: batch.column(3).as_primitive::<TimestampMillisecondType>(),
            deleted: batch.column(4).as_boolean(),
        }
    }

    /// Row `i`'s `write_time` in ms.
    pub(crate) fn write(&self, i: usize) -> i64 {
        millis(self.write, i)
    }

    /// Row `i`'s `api_invocation_time` in ms.
    pub(crate) fn api(&self, i: usize) -> i64 {
        millis(self.api, i)
    }

    /// Row `i`'s delete flag: 0 null, 1 false, 2 true.
    pub(crate) fn deleted(&self, i: usize) -> u8 {
        if self.deleted.is_null(i) {
            0
        } else {
            1 + u8::from(self.deleted.value(i))
        }
    }
}

fn millis(a: &arrow_array::TimestampMillisecondArray, i: usize) -> i64 {
    if a.is_null(i) { NULL } else { a.value(i) }
}
