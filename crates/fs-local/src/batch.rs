//! Rows of a typed Arrow batch, checked and encoded for the store without
//! going through per-row `Record`s.
//!
//! [`BatchRows::new`] checks the batch's columns against the group (each a
//! feature of the group with its Arrow type, the record identifier and event
//! time present). [`BatchRows::check`] checks a row as `Record::validate`
//! checks a record: identifier and event time present and valid, values and
//! the record within the size limits (counting each value as the text the
//! API would carry), finite `Fractional` values, distinct `Set` elements.
//! [`BatchRows::encode_online`] writes a row's online value as a typed
//! record (`codec`): numbers as they are, no text formatting.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, GenericListArray, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use fs_schema::limits::{MAX_RECORD_BYTES, MAX_RECORD_IDENTIFIER_BYTES, MAX_VALUE_BYTES};
use fs_schema::{Collection, EventTime, FeatureGroup, FeatureType};

use crate::codec::{
    TAG_FRACTIONAL, TAG_INTEGRAL, TAG_LIST, TAG_TEXT, fractional_text, put_online_header, put_text,
    put_varint,
};
use crate::error::{Error, Result};

/// The longest text of an `Integral` (`-9223372036854775808`).
const MAX_INTEGRAL_TEXT: usize = 20;
/// The longest text of a finite `Fractional` as Arrow writes it.
const MAX_FRACTIONAL_TEXT: usize = 24;

/// A row of a batch that the store refused, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct RefusedRow {
    /// The row in the batch (0-based).
    pub row: usize,
    /// Its record identifier as text, if it had one.
    pub record_id: Option<String>,
    /// The rule it broke (the same error `Record::validate` gives).
    pub error: fs_schema::Error,
}

impl std::fmt::Display for RefusedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.record_id {
            Some(id) => write!(f, "row {} (identifier {id:?}): {}", self.row, self.error),
            None => write!(f, "row {}: {}", self.row, self.error),
        }
    }
}

/// The values of one column.
enum Values {
    Text(StringArray),
    Integral(Int64Array),
    Fractional(Float64Array),
    /// A collection, its elements as text.
    List(GenericListArray<i32>),
}

impl Values {
    /// The values of `array`, a column of its feature's Arrow type.
    fn of(array: &ArrayRef) -> std::result::Result<Values, arrow_schema::ArrowError> {
        Ok(match array.data_type() {
            DataType::Utf8 => Values::Text(array.as_string::<i32>().clone()),
            DataType::Int64 => Values::Integral(array.as_primitive::<Int64Type>().clone()),
            DataType::Float64 => Values::Fractional(array.as_primitive::<Float64Type>().clone()),
            DataType::List(f) | DataType::FixedSizeList(f, _) => {
                let item = Arc::new(Field::new(f.name(), DataType::Utf8, true));
                let list = arrow_cast::cast(array, &DataType::List(item))?;
                Values::List(list.as_list::<i32>().clone())
            }
            other => unreachable!("feature columns are Utf8, Int64, Float64 or lists, not {other}"),
        })
    }
}

/// One feature column of the batch.
struct Column {
    /// The feature's position among the group's definitions.
    index: u16,
    feature: String,
    feature_type: FeatureType,
    collection: Option<Collection>,
    values: Values,
}

impl Column {
    fn is_null(&self, row: usize) -> bool {
        match &self.values {
            Values::Text(a) => a.is_null(row),
            Values::Integral(a) => a.is_null(row),
            Values::Fractional(a) => a.is_null(row),
            Values::List(a) => a.is_null(row),
        }
    }
}

/// The rows of a batch, ready to check and encode.
pub(crate) struct BatchRows {
    columns: Vec<Column>,
    /// The record identifiers as text.
    ids: StringArray,
    /// The event time column: text (`String`) or seconds (`Fractional`).
    event_times: ArrayRef,
    /// The batch with each column of exactly its feature's Arrow type.
    batch: RecordBatch,
}

impl BatchRows {
    /// Checks the batch's columns against `spec`.
    pub(crate) fn new(spec: &FeatureGroup, batch: &RecordBatch) -> Result<BatchRows> {
        let group = &spec.feature_group_name;
        let schema = batch.schema();
        let width = schema.fields().len();
        let mut seen = HashSet::with_capacity(width);
        let mut columns = Vec::with_capacity(width);
        let mut fields = Vec::with_capacity(width);
        let mut arrays = Vec::with_capacity(width);
        let (mut ids, mut event_times) = (None, None);
        for (field, array) in schema.fields().iter().zip(batch.columns()) {
            let name = field.name();
            let (index, def) = spec
                .feature_definitions
                .iter()
                .enumerate()
                .find(|(_, d)| d.name == *name)
                .ok_or_else(|| {
                    Error::validation(format!(
                        "column {name:?} is not a feature of feature group {group:?}"
                    ))
                })?;
            if !seen.insert(name.as_str()) {
                return Err(Error::validation(format!(
                    "column {name:?} appears twice in a batch for feature group {group:?}"
                )));
            }
            let expected = fs_schema::arrow_field(def, true);
            if !array.data_type().equals_datatype(expected.data_type()) {
                return Err(Error::validation(format!(
                    "column {name:?} of a batch for feature group {group:?} is {}, but the feature is {} (cast the batch to the group's schema first)",
                    array.data_type(),
                    expected.data_type()
                )));
            }
            // Equal up to the names of nested fields: make them exact.
            let array = if array.data_type() == expected.data_type() {
                array.clone()
            } else {
                arrow_cast::cast(array, expected.data_type()).map_err(|e| {
                    Error::validation(format!("column {name:?} of feature group {group:?}: {e}"))
                })?
            };
            let cannot = |e: arrow_schema::ArrowError| {
                Error::validation(format!(
                    "column {name:?} of feature group {group:?} cannot be read as text: {e}"
                ))
            };
            if *name == spec.record_identifier_feature_name {
                let text = arrow_cast::cast(&array, &DataType::Utf8).map_err(cannot)?;
                ids = Some(text.as_string::<i32>().clone());
            }
            if *name == spec.event_time_feature_name {
                event_times = Some(array.clone());
            }
            let values = Values::of(&array).map_err(cannot)?;
            columns.push(Column {
                index: u16::try_from(index).expect("at most 2,500 features"),
                feature: name.clone(),
                feature_type: def.feature_type,
                collection: def.collection,
                values,
            });
            fields.push(expected);
            arrays.push(array);
        }
        let missing = |role: &str, feature: &str| {
            Error::validation(format!(
                "a batch for feature group {group:?} has no {role} column {feature:?}"
            ))
        };
        let ids =
            ids.ok_or_else(|| missing("record identifier", &spec.record_identifier_feature_name))?;
        let event_times =
            event_times.ok_or_else(|| missing("event time", &spec.event_time_feature_name))?;
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| Error::validation(format!("a batch for feature group {group:?}: {e}")))?;
        Ok(BatchRows {
            columns,
            ids,
            event_times,
            batch,
        })
    }

    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// The batch, each column of exactly its feature's type.
    pub(crate) fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The record identifier of `row` as text, if it has one.
    pub(crate) fn id(&self, row: usize) -> Option<&str> {
        self.ids.is_valid(row).then(|| self.ids.value(row))
    }

    /// Checks `row` as `Record::validate` checks a record and returns its
    /// event time in milliseconds.
    pub(crate) fn check(&self, spec: &FeatureGroup, row: usize) -> Result<i64, fs_schema::Error> {
        let invalid = |feature: &str, reason: String| fs_schema::Error::InvalidValue {
            feature: feature.to_owned(),
            reason,
        };
        let id = self.id(row).ok_or_else(|| {
            invalid(
                &spec.record_identifier_feature_name,
                "the record has no record identifier".into(),
            )
        })?;
        if id.len() > MAX_RECORD_IDENTIFIER_BYTES {
            return Err(invalid(
                &spec.record_identifier_feature_name,
                format!(
                    "the identifier is {} bytes; at most {MAX_RECORD_IDENTIFIER_BYTES} are allowed",
                    id.len()
                ),
            ));
        }
        // The size of the values as text: exact for text, at most the
        // longest number for numbers (counted exactly only when that matters).
        let mut size = 0usize;
        for col in &self.columns {
            if col.is_null(row) {
                continue;
            }
            let value_size = match &col.values {
                Values::Text(a) => a.value(row).len(),
                Values::Integral(_) => MAX_INTEGRAL_TEXT,
                Values::Fractional(a) => {
                    let v = a.value(row);
                    if !v.is_finite() {
                        return Err(invalid(
                            &col.feature,
                            format!("{:?} is not a finite number", fractional_text(v)),
                        ));
                    }
                    MAX_FRACTIONAL_TEXT
                }
                Values::List(l) => check_list(col, l, row)?,
            };
            if value_size > MAX_VALUE_BYTES {
                return Err(invalid(
                    &col.feature,
                    format!(
                        "the value is {value_size} bytes; a value may be at most {MAX_VALUE_BYTES} bytes"
                    ),
                ));
            }
            size += value_size;
        }
        let event_time = self.event_time_ms(spec, row)?;
        if size > MAX_RECORD_BYTES {
            let size = self.exact_size(row);
            if size > MAX_RECORD_BYTES {
                return Err(fs_schema::Error::RecordTooLarge {
                    record_id: id.to_owned(),
                    size,
                    max: MAX_RECORD_BYTES,
                });
            }
        }
        Ok(event_time)
    }

    /// The size of `row`'s values as text, numbers counted exactly.
    fn exact_size(&self, row: usize) -> usize {
        self.columns
            .iter()
            .filter(|c| !c.is_null(row))
            .map(|c| match &c.values {
                Values::Text(a) => a.value(row).len(),
                Values::Integral(a) => a.value(row).to_string().len(),
                Values::Fractional(a) => fractional_text(a.value(row)).len(),
                Values::List(l) => {
                    let items = l.value(row);
                    let items = items.as_string::<i32>();
                    (0..items.len())
                        .filter(|&i| items.is_valid(i))
                        .map(|i| items.value(i).len())
                        .sum()
                }
            })
            .sum()
    }

    fn event_time_ms(&self, spec: &FeatureGroup, row: usize) -> Result<i64, fs_schema::Error> {
        let values = &self.event_times;
        if values.is_null(row) {
            return Err(fs_schema::Error::InvalidValue {
                feature: spec.event_time_feature_name.clone(),
                reason: "the record has no event time".into(),
            });
        }
        let t = match values.data_type() {
            DataType::Float64 => {
                EventTime::from_fractional_seconds(values.as_primitive::<Float64Type>().value(row))?
            }
            _ => EventTime::parse_iso(values.as_string::<i32>().value(row))?,
        };
        Ok(t.as_millis())
    }

    /// Appends the online value of `row` (a typed record, `codec`'s
    /// version 2).
    pub(crate) fn encode_online(
        &self,
        row: usize,
        event_time_ms: i64,
        expires_at_ms: Option<i64>,
        out: &mut Vec<u8>,
    ) {
        put_online_header(out, event_time_ms, expires_at_ms, false);
        let count_at = out.len();
        out.extend_from_slice(&0u16.to_le_bytes());
        let mut count = 0u16;
        for col in &self.columns {
            if col.is_null(row) {
                continue;
            }
            out.extend_from_slice(&col.index.to_le_bytes());
            match &col.values {
                Values::Text(a) => {
                    out.push(TAG_TEXT);
                    put_text(out, a.value(row));
                }
                Values::Integral(a) => {
                    out.push(TAG_INTEGRAL);
                    out.extend_from_slice(&a.value(row).to_le_bytes());
                }
                Values::Fractional(a) => {
                    out.push(TAG_FRACTIONAL);
                    out.extend_from_slice(&a.value(row).to_bits().to_le_bytes());
                }
                Values::List(l) => {
                    out.push(TAG_LIST);
                    let items = l.value(row);
                    let items = items.as_string::<i32>();
                    put_varint(out, items.len() as u64);
                    for i in 0..items.len() {
                        put_text(
                            out,
                            if items.is_valid(i) {
                                items.value(i)
                            } else {
                                ""
                            },
                        );
                    }
                }
            }
            count += 1;
        }
        out[count_at..count_at + 2].copy_from_slice(&count.to_le_bytes());
    }
}

/// Checks a collection value as `Record::validate` does and returns its size.
fn check_list(
    col: &Column,
    list: &GenericListArray<i32>,
    row: usize,
) -> Result<usize, fs_schema::Error> {
    let invalid = |reason: String| fs_schema::Error::InvalidValue {
        feature: col.feature.clone(),
        reason,
    };
    let items = list.value(row);
    let items = items.as_string::<i32>();
    let mut size = 0;
    for i in 0..items.len() {
        if items.is_null(i) {
            if col.feature_type != FeatureType::String {
                return Err(invalid(format!("element {i}: is null")));
            }
            continue;
        }
        let text = items.value(i);
        if col.feature_type == FeatureType::Fractional
            && !text.trim().parse::<f64>().is_ok_and(f64::is_finite)
        {
            return Err(invalid(format!(
                "element {i}: {text:?} is not a finite number"
            )));
        }
        size += text.len();
    }
    match col.collection {
        Some(Collection::Set) => {
            let mut distinct = HashSet::with_capacity(items.len());
            for i in 0..items.len() {
                let text = if items.is_valid(i) {
                    items.value(i)
                } else {
                    ""
                };
                if !distinct.insert(text) {
                    return Err(invalid(format!(
                        "repeats {text:?}; a Set holds distinct values"
                    )));
                }
            }
        }
        Some(Collection::Vector { dimension }) if items.len() != dimension as usize => {
            return Err(invalid(format!(
                "has {} elements; the Vector has dimension {dimension}",
                items.len()
            )));
        }
        _ => {}
    }
    Ok(size)
}
