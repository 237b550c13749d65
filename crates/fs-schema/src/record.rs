//! Records: the service's row form, and conversion to and from Arrow.
//!
//! The runtime API moves a record as a list of `FeatureValue`s, each a
//! feature name with its value as text (`ValueAsString`) or, for collection
//! features, a list of texts (`ValueAsStringList`). [`Record`] is that form;
//! [`records_to_batch`] and [`batch_to_records`] convert between it and
//! typed Arrow batches.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::FeatureGroup;
use crate::cast::{CastOptions, cast_batch};
use crate::error::{Error, Result};
use crate::event_time::EventTime;
use crate::limits::{MAX_RECORD_BYTES, MAX_RECORD_IDENTIFIER_BYTES, MAX_VALUE_BYTES};
use crate::types::{Collection, FeatureType};

/// The value of one feature in a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A scalar value as text (`ValueAsString`).
    String(String),
    /// A collection value as a list of texts (`ValueAsStringList`).
    List(Vec<String>),
}

impl Value {
    /// The scalar text, or `None` for a list.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::List(_) => None,
        }
    }

    /// The size in bytes the value counts for against the size limits.
    pub fn size_bytes(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::List(items) => items.iter().map(String::len).sum(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Vec<String>> for Value {
    fn from(items: Vec<String>) -> Self {
        Value::List(items)
    }
}

/// One feature's name and value: the API's `FeatureValue`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "FeatureValueWire")]
pub struct FeatureValue {
    /// The feature's name.
    pub feature_name: String,
    /// Its value.
    pub value: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FeatureValueWire {
    feature_name: String,
    #[serde(default)]
    value_as_string: Option<String>,
    #[serde(default)]
    value_as_string_list: Option<Vec<String>>,
}

impl TryFrom<FeatureValueWire> for FeatureValue {
    type Error = String;

    fn try_from(w: FeatureValueWire) -> std::result::Result<Self, String> {
        let value = match (w.value_as_string, w.value_as_string_list) {
            (Some(s), None) => Value::String(s),
            (None, Some(l)) => Value::List(l),
            _ => {
                return Err(format!(
                    "feature {:?} needs exactly one of ValueAsString and ValueAsStringList",
                    w.feature_name
                ));
            }
        };
        Ok(FeatureValue {
            feature_name: w.feature_name,
            value,
        })
    }
}

/// Serialized without copying: `{"FeatureName": ..., "ValueAsString": ...}`
/// or `{"FeatureName": ..., "ValueAsStringList": [...]}`.
impl Serialize for FeatureValue {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("FeatureValue", 2)?;
        st.serialize_field("FeatureName", &self.feature_name)?;
        match &self.value {
            Value::String(v) => st.serialize_field("ValueAsString", v)?,
            Value::List(v) => st.serialize_field("ValueAsStringList", v)?,
        }
        st.end()
    }
}

/// A record: feature values by name, in the order given. Features without a
/// value are absent (null).
///
/// Serializes as the API's `Record` member: a JSON array of
/// `{"FeatureName": ..., "ValueAsString": ...}` objects.
///
/// ```
/// use fs_schema::Record;
/// let r = Record::new().with("id", "42").with("ts", "2024-01-01T00:00:00Z");
/// assert_eq!(r.get_str("id"), Some("42"));
/// let json = serde_json::to_string(&r).unwrap();
/// assert_eq!(json, r#"[{"FeatureName":"id","ValueAsString":"42"},{"FeatureName":"ts","ValueAsString":"2024-01-01T00:00:00Z"}]"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Record {
    values: Vec<FeatureValue>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A record from feature values.
    pub fn from_values(values: Vec<FeatureValue>) -> Self {
        Self { values }
    }

    /// This record with one more feature value.
    pub fn with(mut self, feature_name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.push(feature_name, value);
        self
    }

    /// Adds a feature value.
    pub fn push(&mut self, feature_name: impl Into<String>, value: impl Into<Value>) {
        self.values.push(FeatureValue {
            feature_name: feature_name.into(),
            value: value.into(),
        });
    }

    /// The value of `feature_name`, if present.
    pub fn get(&self, feature_name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|v| v.feature_name == feature_name)
            .map(|v| &v.value)
    }

    /// The scalar text of `feature_name`, if present and scalar.
    pub fn get_str(&self, feature_name: &str) -> Option<&str> {
        self.get(feature_name).and_then(Value::as_str)
    }

    /// The feature values, in order.
    pub fn values(&self) -> &[FeatureValue] {
        &self.values
    }

    /// The feature values, owned.
    pub fn into_values(self) -> Vec<FeatureValue> {
        self.values
    }

    /// Number of feature values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the record has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total size of the values in bytes, as counted against the record limit.
    pub fn size_bytes(&self) -> usize {
        self.values.iter().map(|v| v.value.size_bytes()).sum()
    }

    /// The record identifier's text in `group`, if present.
    pub fn record_identifier(&self, group: &FeatureGroup) -> Option<&str> {
        self.get_str(&group.record_identifier_feature_name)
    }

    /// The record's normalised event time in `group`.
    pub fn event_time(&self, group: &FeatureGroup) -> Result<EventTime> {
        let name = &group.event_time_feature_name;
        let text = self.get_str(name).ok_or_else(|| Error::InvalidValue {
            feature: name.clone(),
            reason: "the record has no event time".into(),
        })?;
        EventTime::parse(text, group.event_time().feature_type)
    }

    /// Checks the record against `group`: every feature defined once, the
    /// identifier and event time present, each value of its feature's type
    /// and shape, and the value, identifier and record size limits.
    pub fn validate(&self, group: &FeatureGroup) -> Result<()> {
        let mut seen = HashMap::with_capacity(self.values.len());
        for fv in &self.values {
            let name = &fv.feature_name;
            let def = group.feature(name).ok_or_else(|| Error::UnknownFeature {
                group: group.feature_group_name.clone(),
                feature: name.clone(),
            })?;
            if seen.insert(name.as_str(), ()).is_some() {
                return Err(Error::DuplicateFeature {
                    name: name.clone(),
                    other: name.clone(),
                });
            }
            let invalid = |reason: String| Error::InvalidValue {
                feature: name.clone(),
                reason,
            };
            let size = fv.value.size_bytes();
            if size > MAX_VALUE_BYTES {
                return Err(invalid(format!(
                    "the value is {size} bytes; a value may be at most {MAX_VALUE_BYTES} bytes"
                )));
            }
            match (&fv.value, def.collection) {
                (Value::String(s), None) => check_scalar(s, def.feature_type).map_err(&invalid)?,
                (Value::List(items), Some(c)) => {
                    for (i, item) in items.iter().enumerate() {
                        check_scalar(item, def.feature_type)
                            .map_err(|r| invalid(format!("element {i}: {r}")))?;
                    }
                    check_collection(items, c).map_err(&invalid)?;
                }
                (Value::String(_), Some(c)) => {
                    return Err(invalid(format!(
                        "a {} feature needs a list value (ValueAsStringList)",
                        c.type_name()
                    )));
                }
                (Value::List(_), None) => {
                    return Err(invalid(
                        "a scalar feature needs a text value (ValueAsString), not a list".into(),
                    ));
                }
            }
        }
        let id_name = &group.record_identifier_feature_name;
        let id = self
            .record_identifier(group)
            .ok_or_else(|| Error::InvalidValue {
                feature: id_name.clone(),
                reason: "the record has no record identifier".into(),
            })?;
        if id.len() > MAX_RECORD_IDENTIFIER_BYTES {
            return Err(Error::InvalidValue {
                feature: id_name.clone(),
                reason: format!(
                    "the identifier is {} bytes; at most {MAX_RECORD_IDENTIFIER_BYTES} are allowed",
                    id.len()
                ),
            });
        }
        self.event_time(group)?;
        let size = self.size_bytes();
        if size > MAX_RECORD_BYTES {
            return Err(Error::RecordTooLarge {
                record_id: id.to_owned(),
                size,
                max: MAX_RECORD_BYTES,
            });
        }
        Ok(())
    }
}

fn check_scalar(text: &str, t: FeatureType) -> std::result::Result<(), String> {
    match t {
        FeatureType::String => Ok(()),
        FeatureType::Integral => crate::cast::parse_integral(text)
            .map(|_| ())
            .map_err(|reason| format!("{text:?} {reason}")),
        FeatureType::Fractional => match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(()),
            Ok(_) => Err(format!("{text:?} is not a finite number")),
            Err(_) => Err(format!("{text:?} is not a number")),
        },
    }
}

fn check_collection(items: &[String], c: Collection) -> std::result::Result<(), String> {
    match c {
        Collection::List => Ok(()),
        Collection::Set => {
            let mut seen = std::collections::HashSet::new();
            match items.iter().find(|i| !seen.insert(*i)) {
                Some(dup) => Err(format!("repeats {dup:?}; a Set holds distinct values")),
                None => Ok(()),
            }
        }
        Collection::Vector { dimension } if items.len() != dimension as usize => Err(format!(
            "has {} elements; the Vector has dimension {dimension}",
            items.len()
        )),
        Collection::Vector { .. } => Ok(()),
    }
}

/// Converts records to one batch typed as `group` ([`crate::arrow_schema()`]).
/// Features a record lacks are null. Failures name the record (as the row),
/// the feature and the value.
///
/// ```
/// use fs_schema::{records_to_batch, batch_to_records, FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};
/// let group = FeatureGroup::builder("g", "id", "ts")
///     .features([FeatureDefinition::integral("id"), FeatureDefinition::string("ts"),
///                FeatureDefinition::fractional("score")])
///     .online_store(OnlineStoreConfig::enabled())
///     .build()?;
/// let records = vec![
///     Record::new().with("id", "1").with("ts", "2024-01-01T00:00:00Z").with("score", "0.5"),
///     Record::new().with("id", "2").with("ts", "2024-01-01T00:00:00Z"),
/// ];
/// let batch = records_to_batch(&group, &records)?;
/// assert_eq!(batch.num_rows(), 2);
/// assert_eq!(batch.column(2).null_count(), 1);
/// assert_eq!(batch_to_records(&batch)?, records);
/// # Ok::<(), fs_schema::Error>(())
/// ```
pub fn records_to_batch(group: &FeatureGroup, records: &[Record]) -> Result<RecordBatch> {
    let index: HashMap<&str, usize> = group
        .feature_definitions
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let n = group.feature_definitions.len();
    // Raw text per feature (and record), then one strict cast.
    let mut texts: Vec<Vec<Option<&Value>>> = vec![vec![None; records.len()]; n];
    for (row, record) in records.iter().enumerate() {
        for fv in record.values() {
            let col =
                *index
                    .get(fv.feature_name.as_str())
                    .ok_or_else(|| Error::UnknownFeature {
                        group: group.feature_group_name.clone(),
                        feature: fv.feature_name.clone(),
                    })?;
            texts[col][row] = Some(&fv.value);
        }
    }
    let mut fields = Vec::with_capacity(n);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(n);
    for (def, col) in group.feature_definitions.iter().zip(texts) {
        let shape_error = |row: usize, value: &Value, reason: &str| Error::Cast {
            failures: vec![crate::cast::CastFailure {
                row,
                column: def.name.clone(),
                value: Some(crate::cast::shorten(match value {
                    Value::String(s) => s.clone(),
                    Value::List(items) => format!("{items:?}"),
                })),
                reason: reason.to_owned(),
            }],
        };
        if def.is_collection() {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for (row, v) in col.into_iter().enumerate() {
                match v {
                    None => builder.append_null(),
                    Some(Value::List(items)) => {
                        for item in items {
                            builder.values().append_value(item);
                        }
                        builder.append(true);
                    }
                    Some(v @ Value::String(_)) => {
                        return Err(shape_error(
                            row,
                            v,
                            "a collection feature needs a list value",
                        ));
                    }
                }
            }
            let array = builder.finish();
            fields.push(Field::new(&def.name, array.data_type().clone(), true));
            columns.push(Arc::new(array));
        } else {
            let mut strings = Vec::with_capacity(records.len());
            for (row, v) in col.into_iter().enumerate() {
                strings.push(match v {
                    None => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(v @ Value::List(_)) => {
                        return Err(shape_error(
                            row,
                            v,
                            "a scalar feature needs a text value, not a list",
                        ));
                    }
                });
            }
            fields.push(Field::new(&def.name, DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from(strings)));
        }
    }
    let raw = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    cast_batch(&raw, group, &CastOptions::default())
}

/// Converts a batch (typically one typed by [`records_to_batch`] or
/// [`crate::cast_batch`]) to records, one per row. Null values are left out;
/// numbers are written as the shortest text that reads back to the same
/// value; list columns become `ValueAsStringList`s.
pub fn batch_to_records(batch: &RecordBatch) -> Result<Vec<Record>> {
    let mut records = vec![Record::new(); batch.num_rows()];
    let schema = batch.schema();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match column.data_type() {
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(..) => {
                let item = match column.data_type() {
                    DataType::List(f)
                    | DataType::LargeList(f)
                    | DataType::ListView(f)
                    | DataType::LargeListView(f)
                    | DataType::FixedSizeList(f, _) => f,
                    _ => unreachable!(),
                };
                let item = Arc::new(Field::new(item.name(), DataType::Utf8, true));
                let as_list = arrow_cast::cast(column, &DataType::List(item))?;
                let list = as_list.as_list::<i32>();
                for (row, record) in records.iter_mut().enumerate() {
                    if list.is_null(row) {
                        continue;
                    }
                    let values = list.value(row);
                    let items = values
                        .as_string::<i32>()
                        .iter()
                        .map(|s| s.unwrap_or_default().to_owned())
                        .collect::<Vec<_>>();
                    record.push(field.name().clone(), Value::List(items));
                }
            }
            _ => {
                let text = arrow_cast::cast(column, &DataType::Utf8)?;
                for (record, v) in records.iter_mut().zip(text.as_string::<i32>().iter()) {
                    if let Some(s) = v {
                        record.push(field.name().clone(), Value::String(s.to_owned()));
                    }
                }
            }
        }
    }
    Ok(records)
}
