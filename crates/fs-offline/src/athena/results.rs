//! GetQueryResults pages as Arrow: Athena returns every value as text
//! (`VarCharValue`, absent for NULL) with each column's Athena type in
//! `ResultSetMetadata.ColumnInfo`; each page becomes one `RecordBatch`.
//!
//! | Athena type | Arrow type (no schema given) | text read |
//! |---|---|---|
//! | `varchar`, `char`, `string`, `json`, `array`, `map`, `row`, others | `Utf8` | as is |
//! | `bigint`, `integer`, `smallint`, `tinyint` | `Int64`, `Int32`, `Int16`, `Int8` | decimal integer |
//! | `double`, `real`/`float` | `Float64`, `Float32` | `1.5`, `1.0E10`, `NaN`, `Infinity` |
//! | `boolean` | `Boolean` | `true`, `false` |
//! | `timestamp`, `timestamp(p)` | `Timestamp(ms / µs / ns)` | `2024-01-31 12:00:00.123` (UTC) |
//! | `timestamp with time zone` | `Timestamp(ms, "UTC")` | `… UTC`, `…+01:00` |
//! | `date` | `Date32` | `2024-01-31` |
//! | `decimal` | `Decimal128(precision, scale)` | decimal text |
//!
//! With a schema given, columns are matched by position (Athena folds names
//! to lower case, so names are compared ignoring case) and each value is
//! read as its field's type, from any Athena type whose text fits.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, PrimitiveBuilder, StringBuilder};
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{ArrayRef, ArrowPrimitiveType, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use aws_sdk_athena::types::{ColumnInfo, Row};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::error::{AthenaError, AthenaResult, BadValue};

/// The Arrow type of an Athena column when no schema is given (see the
/// module docs).
pub(crate) fn arrow_type(column: &ColumnInfo) -> DataType {
    let t = column.r#type().trim().to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "bigint" => DataType::Int64,
        "integer" | "int" => DataType::Int32,
        "smallint" => DataType::Int16,
        "tinyint" => DataType::Int8,
        "double" => DataType::Float64,
        "real" | "float" => DataType::Float32,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "decimal" => {
            let precision = u8::try_from(column.precision())
                .ok()
                .filter(|p| (1..=38).contains(p));
            let scale = i8::try_from(column.scale()).ok().filter(|s| *s >= 0);
            match (precision, scale) {
                (Some(p), Some(s)) if s.unsigned_abs() <= p => DataType::Decimal128(p, s),
                _ => DataType::Utf8,
            }
        }
        _ if t.starts_with("timestamp") && t.contains("with time zone") => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
        "timestamp" => {
            let unit = match t.trim_start_matches("timestamp").trim() {
                "(0)" => TimeUnit::Second,
                "(4)" | "(5)" | "(6)" => TimeUnit::Microsecond,
                "(7)" | "(8)" | "(9)" => TimeUnit::Nanosecond,
                _ => TimeUnit::Millisecond,
            };
            DataType::Timestamp(unit, None)
        }
        _ => DataType::Utf8,
    }
}

/// The schema of a result's columns when none is given.
pub(crate) fn derived_schema(columns: &[ColumnInfo]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name(), arrow_type(c), true))
            .collect::<Vec<_>>(),
    ))
}

/// Checks that a result's columns are the schema's, by position and name
/// (ignoring case).
pub(crate) fn check_columns(
    query_id: &str,
    columns: &[ColumnInfo],
    schema: &Schema,
) -> AthenaResult<()> {
    let names = || {
        columns
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if columns.len() != schema.fields().len() {
        return Err(AthenaError::Schema {
            query_id: query_id.to_owned(),
            reason: format!(
                "the result has {} columns ({}), the expected schema {} ({})",
                columns.len(),
                names(),
                schema.fields().len(),
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    for (i, (c, f)) in columns.iter().zip(schema.fields()).enumerate() {
        if !c.name().eq_ignore_ascii_case(f.name()) {
            return Err(AthenaError::Schema {
                query_id: query_id.to_owned(),
                reason: format!(
                    "result column {i} is `{}`, the expected schema has `{}` there (result columns: {})",
                    c.name(),
                    f.name(),
                    names()
                ),
            });
        }
    }
    Ok(())
}

/// One page of rows (header already removed) as a batch of `schema`;
/// `first_row` is the number of the page's first row in the whole result.
pub(crate) fn page_to_batch(
    query_id: &str,
    columns: &[ColumnInfo],
    rows: &[Row],
    first_row: u64,
    schema: &SchemaRef,
) -> AthenaResult<RecordBatch> {
    check_columns(query_id, columns, schema)?;
    for (i, row) in rows.iter().enumerate() {
        if row.data().len() != columns.len() {
            return Err(AthenaError::Schema {
                query_id: query_id.to_owned(),
                reason: format!(
                    "result row {} has {} values for {} columns",
                    first_row + i as u64,
                    row.data().len(),
                    columns.len()
                ),
            });
        }
    }
    let arrays = columns
        .iter()
        .zip(schema.fields())
        .enumerate()
        .map(|(i, (column, field))| {
            let values = rows.iter().map(|r| r.data()[i].var_char_value());
            let cx = Cx {
                query_id,
                column: field.name(),
                athena_type: column.r#type(),
                first_row,
            };
            convert(&cx, values, field.data_type())
        })
        .collect::<AthenaResult<Vec<ArrayRef>>>()?;
    RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| AthenaError::Schema {
        query_id: query_id.to_owned(),
        reason: format!(
            "rows {first_row}..{} do not fit the expected schema: {e}",
            first_row + rows.len() as u64
        ),
    })
}

/// Where a value comes from, for errors.
struct Cx<'a> {
    query_id: &'a str,
    column: &'a str,
    athena_type: &'a str,
    first_row: u64,
}

impl Cx<'_> {
    fn error(&self, index: usize, value: &str, reason: impl Into<String>) -> AthenaError {
        AthenaError::Value(Box::new(BadValue {
            query_id: self.query_id.to_owned(),
            row: self.first_row + index as u64,
            column: self.column.to_owned(),
            athena_type: self.athena_type.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }))
    }
}

fn convert<'v>(
    cx: &Cx<'_>,
    values: impl Iterator<Item = Option<&'v str>>,
    data_type: &DataType,
) -> AthenaResult<ArrayRef> {
    let int = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|e| format!("is not an integer: {e}"))
    };
    Ok(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let mut b = StringBuilder::new();
            values.for_each(|v| b.append_option(v));
            let array: ArrayRef = Arc::new(b.finish());
            if data_type == &DataType::Utf8 {
                array
            } else {
                arrow_cast::cast(&array, data_type).map_err(|e| cx.error(0, "", e.to_string()))?
            }
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            for (i, v) in values.enumerate() {
                match v {
                    None => b.append_null(),
                    Some(s) => match s.trim() {
                        "true" => b.append_value(true),
                        "false" => b.append_value(false),
                        _ => return Err(cx.error(i, s, "is not true or false")),
                    },
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int64 => primitive::<Int64Type>(cx, values, int)?,
        DataType::Int32 => primitive::<Int32Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::Int16 => primitive::<Int16Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::Int8 => primitive::<Int8Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::UInt64 => primitive::<UInt64Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::UInt32 => primitive::<UInt32Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::UInt16 => primitive::<UInt16Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::UInt8 => primitive::<UInt8Type>(cx, values, |s| narrow(int(s)?))?,
        DataType::Float64 => primitive::<Float64Type>(cx, values, float)?,
        DataType::Float32 => primitive::<Float32Type>(cx, values, |s| float(s).map(|f| f as f32))?,
        DataType::Date32 => primitive::<Date32Type>(cx, values, |s| {
            let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|e| format!("is not a date (yyyy-MM-dd): {e}"))?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date");
            narrow(d.signed_duration_since(epoch).num_days())
        })?,
        DataType::Decimal128(p, s) => {
            let (p, s) = (*p, *s);
            let array = primitive::<Decimal128Type>(cx, values, |v| {
                arrow_cast::parse::parse_decimal::<Decimal128Type>(v.trim(), p, s)
                    .map_err(|e| format!("is not a decimal({p}, {s}): {e}"))
            })?;
            let array = arrow_array::cast::as_primitive_array::<Decimal128Type>(&array)
                .clone()
                .with_precision_and_scale(p, s)
                .map_err(|e| cx.error(0, "", e.to_string()))?;
            Arc::new(array)
        }
        DataType::Timestamp(unit, tz) => {
            let array: ArrayRef = match unit {
                TimeUnit::Second => primitive::<TimestampSecondType>(cx, values, |s| {
                    timestamp(s).map(|(secs, _)| secs)
                })?,
                TimeUnit::Millisecond => primitive::<TimestampMillisecondType>(cx, values, |s| {
                    let (secs, nanos) = timestamp(s)?;
                    scaled(secs, 1_000, i64::from(nanos / 1_000_000))
                })?,
                TimeUnit::Microsecond => primitive::<TimestampMicrosecondType>(cx, values, |s| {
                    let (secs, nanos) = timestamp(s)?;
                    scaled(secs, 1_000_000, i64::from(nanos / 1_000))
                })?,
                TimeUnit::Nanosecond => primitive::<TimestampNanosecondType>(cx, values, |s| {
                    let (secs, nanos) = timestamp(s)?;
                    scaled(secs, 1_000_000_000, i64::from(nanos))
                })?,
            };
            match tz {
                None => array,
                Some(_) => arrow_cast::cast(&array, data_type)
                    .map_err(|e| cx.error(0, "", e.to_string()))?,
            }
        }
        other => {
            return Err(AthenaError::Schema {
                query_id: cx.query_id.to_owned(),
                reason: format!(
                    "column `{}` ({}) cannot be read as Arrow {other}; \
                     supported: strings, integers, floats, booleans, dates, timestamps, decimals",
                    cx.column, cx.athena_type
                ),
            });
        }
    })
}

fn primitive<'v, T: ArrowPrimitiveType>(
    cx: &Cx<'_>,
    values: impl Iterator<Item = Option<&'v str>>,
    parse: impl Fn(&str) -> Result<T::Native, String>,
) -> AthenaResult<ArrayRef> {
    let mut b = PrimitiveBuilder::<T>::new();
    for (i, v) in values.enumerate() {
        match v {
            None => b.append_null(),
            Some(s) => b.append_value(parse(s).map_err(|reason| cx.error(i, s, reason))?),
        }
    }
    Ok(Arc::new(b.finish()))
}

fn narrow<T: TryFrom<i64>>(v: i64) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("is out of range for {}", std::any::type_name::<T>()))
}

/// Athena's (Java's) text of a double: `1.5`, `1.0E10`, `NaN`, `Infinity`.
fn float(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|e| format!("is not a number: {e}"))
}

fn scaled(secs: i64, per_sec: i64, sub: i64) -> Result<i64, String> {
    secs.checked_mul(per_sec)
        .and_then(|v| v.checked_add(sub))
        .ok_or_else(|| "is out of the range of the timestamp unit".to_owned())
}

/// A timestamp as Athena prints it (`2024-01-31 12:00:00.123`, optionally
/// with `T`, `Z`, ` UTC` or an offset): seconds since the epoch and
/// nanoseconds. Times without a zone are UTC.
fn timestamp(s: &str) -> Result<(i64, u32), String> {
    let t = s.trim();
    let t = t.strip_suffix(" UTC").unwrap_or(t);
    let with_t = t.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&with_t) {
        return Ok((dt.timestamp(), dt.timestamp_subsec_nanos()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&with_t, format) {
            let utc = naive.and_utc();
            return Ok((utc.timestamp(), utc.timestamp_subsec_nanos()));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let utc = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        return Ok((utc.timestamp(), 0));
    }
    Err("is not a timestamp (yyyy-MM-dd HH:mm:ss[.fff][ zone])".to_owned())
}

#[cfg(test)]
mod tests;
