//! Strict casting of Arrow batches to a feature group's types.
//!
//! Arrow's own cast turns failures into nulls by default. Here nothing is
//! silent: a value that does not fit its feature (an unsigned integer above
//! `i64::MAX`, a float with a fraction for an `Integral` feature, a
//! non-finite float, unparseable text, a timestamp outside years 0 to 9999,
//! an oversize value, a null identifier or event time) is a [`CastFailure`]
//! naming the row, the column, the value and the reason.
//!
//! [`cast_batch`] fails on the first bad batch; [`cast_batch_lenient`]
//! keeps the good rows and reports the bad ones, as ingestion needs.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float64Array, Int64Array, ListArray,
    PrimitiveArray, RecordBatch, StringArray, UInt32Array, new_null_array,
};
use arrow_buffer::OffsetBuffer;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event_time::EventTime;
use crate::group::FeatureGroup;
use crate::limits::{MAX_RECORD_IDENTIFIER_BYTES, MAX_VALUE_BYTES};
use crate::schema::{arrow_field, arrow_schema, is_required};
use crate::types::{Collection, FeatureDefinition, FeatureType};

/// How strict a cast is where the service leaves room.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CastOptions {
    /// Accept NaN and infinities in `Fractional` features (never in the
    /// event time). Off by default: most pipelines treat them as bugs.
    pub allow_non_finite: bool,
    /// Drop columns the group does not define instead of failing.
    pub ignore_unknown_columns: bool,
    /// Read empty text as null for non-`String` features (what CSV means by
    /// an empty cell). Off by default: `""` is not a number.
    pub empty_string_as_null: bool,
}

impl CastOptions {
    /// Options with NaN and infinities accepted in `Fractional` features.
    pub fn allow_non_finite(mut self, yes: bool) -> Self {
        self.allow_non_finite = yes;
        self
    }

    /// Options that drop columns the group does not define.
    pub fn ignore_unknown_columns(mut self, yes: bool) -> Self {
        self.ignore_unknown_columns = yes;
        self
    }

    /// Options that read empty text as null for non-`String` features.
    pub fn empty_string_as_null(mut self, yes: bool) -> Self {
        self.empty_string_as_null = yes;
        self
    }
}

/// One value that could not be cast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastFailure {
    /// The row in the input batch (0-based).
    pub row: usize,
    /// The column (feature) name.
    pub column: String,
    /// The value as it was, shortened to 80 characters; `None` for null.
    pub value: Option<String>,
    /// Why it could not be cast.
    pub reason: String,
}

impl std::fmt::Display for CastFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(
                f,
                "row {}, column {:?}, value {v:?}: {}",
                self.row, self.column, self.reason
            ),
            None => write!(
                f,
                "row {}, column {:?}, value null: {}",
                self.row, self.column, self.reason
            ),
        }
    }
}

pub(crate) fn summarize(failures: &[CastFailure]) -> String {
    match failures {
        [] => "cast failed".into(),
        [one] => format!("cannot cast {one}"),
        [first, rest @ ..] => format!("cannot cast {first} (and {} more rows)", rest.len()),
    }
}

/// The result of [`cast_batch_lenient`].
#[derive(Debug, Clone)]
pub struct CastOutcome {
    /// The rows that cast cleanly, in input order, typed as the group.
    pub batch: RecordBatch,
    /// One failure per rejected row (its first bad column), in row order.
    pub failures: Vec<CastFailure>,
}

/// Casts `batch` to `group`'s schema ([`arrow_schema()`]), failing with
/// [`Error::Cast`] (listing every bad row) if any value does not fit.
///
/// Columns are matched by name; features missing from the batch become
/// nulls, except the record identifier and event time
/// ([`Error::MissingColumn`]). Columns the group lacks are an
/// [`Error::UnknownFeature`] unless [`CastOptions::ignore_unknown_columns`].
pub fn cast_batch(
    batch: &RecordBatch,
    group: &FeatureGroup,
    opts: &CastOptions,
) -> Result<RecordBatch> {
    let (columns, failures) = cast_columns(batch, group, opts)?;
    if !failures.is_empty() {
        return Err(Error::Cast {
            failures: failures.into_values().collect(),
        });
    }
    Ok(RecordBatch::try_new(arrow_schema(group), columns)?)
}

/// Like [`cast_batch`], but bad rows are reported and left out instead of
/// failing the batch. Problems with the batch as a whole (a missing
/// identifier column, an unknown column, an incompatible column type) are
/// still errors.
pub fn cast_batch_lenient(
    batch: &RecordBatch,
    group: &FeatureGroup,
    opts: &CastOptions,
) -> Result<CastOutcome> {
    let (mut columns, failures) = cast_columns(batch, group, opts)?;
    if !failures.is_empty() {
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|r| Some(!failures.contains_key(&r)))
            .collect();
        columns = columns
            .iter()
            .map(|c| arrow_select::filter::filter(c, &keep))
            .collect::<std::result::Result<_, _>>()?;
    }
    Ok(CastOutcome {
        batch: RecordBatch::try_new(arrow_schema(group), columns)?,
        failures: failures.into_values().collect(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Identifier,
    EventTime,
    Plain,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Identifier => "record identifier",
            Role::EventTime => "event time",
            Role::Plain => "feature",
        }
    }

    /// The name with its indefinite article, for messages.
    fn a_name(self) -> &'static str {
        match self {
            Role::Identifier => "a record identifier",
            Role::EventTime => "an event time",
            Role::Plain => "a feature",
        }
    }
}

/// Failures of one array: (index in that array, reason).
type Fails = Vec<(usize, String)>;

fn cast_columns(
    batch: &RecordBatch,
    group: &FeatureGroup,
    opts: &CastOptions,
) -> Result<(Vec<ArrayRef>, BTreeMap<usize, CastFailure>)> {
    if !opts.ignore_unknown_columns
        && let Some(f) = batch
            .schema()
            .fields()
            .iter()
            .find(|f| group.feature(f.name()).is_none())
    {
        return Err(Error::UnknownFeature {
            group: group.feature_group_name.clone(),
            feature: f.name().clone(),
        });
    }
    let mut failures: BTreeMap<usize, CastFailure> = BTreeMap::new();
    let mut columns = Vec::with_capacity(group.feature_definitions.len());
    for def in &group.feature_definitions {
        let role = if def.name == group.record_identifier_feature_name {
            Role::Identifier
        } else if def.name == group.event_time_feature_name {
            Role::EventTime
        } else {
            Role::Plain
        };
        let Some(src) = batch.column_by_name(&def.name) else {
            if is_required(group, &def.name) {
                return Err(Error::MissingColumn {
                    column: def.name.clone(),
                    role: role.name(),
                });
            }
            columns.push(new_null_array(
                arrow_field(def, true).data_type(),
                batch.num_rows(),
            ));
            continue;
        };
        let (array, fails) = cast_column(src, def, role, opts)?;
        for (row, value, reason) in fails {
            failures.entry(row).or_insert_with(|| CastFailure {
                row,
                column: def.name.clone(),
                value,
                reason,
            });
        }
        columns.push(array);
    }
    Ok((columns, failures))
}

/// (row, rendered value, reason)
type RowFails = Vec<(usize, Option<String>, String)>;

fn cast_column(
    src: &ArrayRef,
    def: &FeatureDefinition,
    role: Role,
    opts: &CastOptions,
) -> Result<(ArrayRef, RowFails)> {
    let incompatible = |reason| {
        let target = match def.collection {
            Some(c) => format!("{} of {}", c.type_name(), def.feature_type),
            None => def.feature_type.to_string(),
        };
        Error::IncompatibleColumn {
            column: def.name.clone(),
            data_type: src.data_type().clone(),
            target,
            reason,
        }
    };
    let (array, fails) = match def.collection {
        None => {
            let (array, mut fails) = cast_scalar(src, def.feature_type, role, opts)
                .ok_or_else(|| incompatible("no cast exists between these types"))?;
            if role != Role::Plain
                && let Some(nulls) = src.logical_nulls()
            {
                for i in (0..src.len()).filter(|&i| nulls.is_null(i)) {
                    fails.push((i, format!("is null; every record needs {}", role.a_name())));
                }
            }
            (array, render(src, fails))
        }
        Some(collection) => cast_collection(src, def, collection, opts).ok_or_else(|| {
            incompatible(
                "a collection feature needs a List, LargeList, ListView or FixedSizeList column",
            )
        })?,
    };
    Ok((array, fails))
}

fn render(src: &dyn Array, fails: Fails) -> RowFails {
    if fails.is_empty() {
        return Vec::new();
    }
    let formatter = ArrayFormatter::try_new(src, &FormatOptions::default()).ok();
    let nulls = src.logical_nulls();
    fails
        .into_iter()
        .map(|(i, reason)| {
            let value = (!nulls.as_ref().is_some_and(|n| n.is_null(i))).then(|| {
                let s = formatter
                    .as_ref()
                    .map(|f| f.value(i).to_string())
                    .unwrap_or_else(|| "<unprintable>".into());
                shorten(s)
            });
            (i, value, reason)
        })
        .collect()
}

pub(crate) fn shorten(s: String) -> String {
    if s.chars().count() <= 80 {
        s
    } else {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    }
}

fn is_string_like(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_like(v),
        _ => false,
    }
}

fn to_utf8(src: &ArrayRef) -> Option<ArrayRef> {
    arrow_cast::cast(src, &DataType::Utf8).ok()
}

/// Casts a scalar array to `target`; `None` when no cast exists.
fn cast_scalar(
    src: &ArrayRef,
    target: FeatureType,
    role: Role,
    opts: &CastOptions,
) -> Option<(ArrayRef, Fails)> {
    if let DataType::Dictionary(_, value_type) = src.data_type() {
        let unpacked = arrow_cast::cast(src, value_type).ok()?;
        return cast_scalar(&unpacked, target, role, opts);
    }
    let mut fails = Fails::new();
    let array: ArrayRef = match target {
        FeatureType::Integral => Arc::new(to_int64(src, opts, &mut fails)?),
        FeatureType::Fractional => {
            let allow_nf = opts.allow_non_finite && role == Role::Plain;
            Arc::new(to_float64(src, role, allow_nf, opts, &mut fails)?)
        }
        FeatureType::String => Arc::new(to_string(src, role, opts, &mut fails)?),
    };
    Some((array, fails))
}

fn parse_strings<T: arrow_array::ArrowPrimitiveType>(
    src: &ArrayRef,
    empty_as_null: bool,
    fails: &mut Fails,
    parse: impl Fn(&str) -> std::result::Result<T::Native, String>,
) -> Option<PrimitiveArray<T>> {
    let strings = to_utf8(src)?;
    let strings = strings.as_string::<i32>();
    Some(
        strings
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                None => None,
                Some("") if empty_as_null => None,
                Some(s) => match parse(s) {
                    Ok(n) => Some(n),
                    Err(reason) => {
                        fails.push((i, reason));
                        None
                    }
                },
            })
            .collect(),
    )
}

pub(crate) fn parse_integral(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    // "12.000" (decimals, CSV written by float-minded tools) is still whole.
    if let Some((int, frac)) = t.split_once('.')
        && !frac.is_empty()
        && frac.bytes().all(|b| b == b'0')
        && let Ok(v) = int.parse::<i64>()
    {
        return Ok(v);
    }
    if t.parse::<f64>()
        .is_ok_and(|f| f.is_finite() && f.fract() != 0.0)
    {
        return Err("has a fractional part; Integral features hold whole numbers".into());
    }
    if !t.is_empty()
        && t.trim_start_matches(['-', '+'])
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return Err("is outside the 64-bit signed range of Integral features".into());
    }
    Err("is not an integer".into())
}

fn to_int64(src: &ArrayRef, opts: &CastOptions, fails: &mut Fails) -> Option<Int64Array> {
    use DataType::*;
    Some(match src.data_type() {
        Int64 => src.as_primitive::<Int64Type>().clone(),
        Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 => arrow_cast::cast(src, &Int64)
            .ok()?
            .as_primitive::<Int64Type>()
            .clone(),
        UInt64 => src
            .as_primitive::<arrow_array::types::UInt64Type>()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.and_then(|v| match i64::try_from(v) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        fails.push((
                            i,
                            format!("exceeds {}, the largest Integral value", i64::MAX),
                        ));
                        None
                    }
                })
            })
            .collect(),
        Boolean => src.as_boolean().iter().map(|v| v.map(i64::from)).collect(),
        Float16 | Float32 | Float64 => {
            let floats = arrow_cast::cast(src, &Float64).ok()?;
            floats
                .as_primitive::<Float64Type>()
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.and_then(|v| {
                        // i64::MAX as f64 rounds up to 2^63, which does not fit.
                        if v.is_finite()
                            && v.fract() == 0.0
                            && v >= -(2f64.powi(63))
                            && v < 2f64.powi(63)
                        {
                            Some(v as i64)
                        } else {
                            let reason = if !v.is_finite() {
                                "is not a finite number"
                            } else if v.fract() != 0.0 {
                                "has a fractional part; Integral features hold whole numbers"
                            } else {
                                "is outside the 64-bit signed range of Integral features"
                            };
                            fails.push((i, reason.into()));
                            None
                        }
                    })
                })
                .collect()
        }
        Null => Int64Array::new_null(src.len()),
        dt if is_string_like(dt) || dt.is_numeric() => {
            parse_strings::<Int64Type>(src, opts.empty_string_as_null, fails, parse_integral)?
        }
        _ => return None,
    })
}

fn check_finite(v: f64, allow_non_finite: bool) -> std::result::Result<f64, String> {
    if v.is_finite() || allow_non_finite {
        Ok(v)
    } else {
        Err("is not a finite number (NaN and infinities are refused unless allowed)".into())
    }
}

fn to_float64(
    src: &ArrayRef,
    role: Role,
    allow_nf: bool,
    opts: &CastOptions,
    fails: &mut Fails,
) -> Option<Float64Array> {
    use DataType::*;
    let event_time = role == Role::EventTime;
    let check = |v: f64| -> std::result::Result<f64, String> {
        let v = check_finite(v, allow_nf)?;
        if event_time {
            // Keep the value as given; only its range is checked.
            EventTime::from_fractional_seconds(v).map_err(|e| event_time_reason(&e))?;
        }
        Ok(v)
    };
    let mut record = |i: usize, r: std::result::Result<f64, String>| match r {
        Ok(v) => Some(v),
        Err(reason) => {
            fails.push((i, reason));
            None
        }
    };
    Some(match src.data_type() {
        Float16 | Float32 | Float64 => {
            let floats = arrow_cast::cast(src, &Float64).ok()?;
            floats
                .as_primitive::<Float64Type>()
                .iter()
                .enumerate()
                .map(|(i, v)| v.and_then(|v| record(i, check(v))))
                .collect()
        }
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => {
            let exact = |v: i128| -> std::result::Result<f64, String> {
                let f = v as f64;
                if f as i128 == v {
                    Ok(f)
                } else {
                    Err("cannot be represented exactly as a 64-bit float".into())
                }
            };
            let wide: Vec<Option<i128>> = match src.data_type() {
                UInt64 => src
                    .as_primitive::<arrow_array::types::UInt64Type>()
                    .iter()
                    .map(|v| v.map(i128::from))
                    .collect(),
                _ => arrow_cast::cast(src, &Int64)
                    .ok()?
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(i128::from))
                    .collect(),
            };
            wide.into_iter()
                .enumerate()
                .map(|(i, v)| v.and_then(|v| record(i, exact(v).and_then(check))))
                .collect()
        }
        Boolean => src
            .as_boolean()
            .iter()
            .map(|v| v.map(|b| if b { 1.0 } else { 0.0 }))
            .collect(),
        Timestamp(..) | Date32 | Date64 => {
            let millis = temporal_millis(src)?;
            millis
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(ms) => record(i, check(ms as f64 / 1000.0)),
                    // Arrow's cast to milliseconds overflowed (and made a null).
                    None if src.is_valid(i) => {
                        record(i, Err("is outside years 0000 to 9999".into()))
                    }
                    None => None,
                })
                .collect()
        }
        Null => Float64Array::new_null(src.len()),
        dt if is_string_like(dt)
            || matches!(
                dt,
                Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..)
            ) =>
        {
            let mut inner = Fails::new();
            let parsed =
                parse_strings::<Float64Type>(src, opts.empty_string_as_null, &mut inner, |s| {
                    match s.trim().parse::<f64>() {
                        Ok(v) => check(v),
                        // An ISO-8601 event time is accepted for a Fractional event time.
                        Err(_) if event_time => EventTime::parse_iso(s)
                            .map(|t| t.to_fractional_seconds())
                            .map_err(|_| {
                                "is neither seconds since the epoch nor an ISO-8601 event time"
                                    .into()
                            }),
                        Err(_) => Err("is not a number".into()),
                    }
                })?;
            fails.extend(inner);
            parsed
        }
        _ => return None,
    })
}

fn event_time_reason(e: &Error) -> String {
    match e {
        Error::InvalidEventTime { reason, .. } => format!("is not a valid event time: {reason}"),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch of a timestamp or date array.
fn temporal_millis(src: &ArrayRef) -> Option<Int64Array> {
    let target = DataType::Timestamp(TimeUnit::Millisecond, None);
    let ts = match src.data_type() {
        DataType::Timestamp(_, Some(_)) => {
            // Drop the zone: the stored instant is UTC already.
            let naive = DataType::Timestamp(
                match src.data_type() {
                    DataType::Timestamp(u, _) => *u,
                    _ => unreachable!(),
                },
                None,
            );
            arrow_cast::cast(&arrow_cast::cast(src, &naive).ok()?, &target).ok()?
        }
        _ => arrow_cast::cast(src, &target).ok()?,
    };
    let ts = ts.as_primitive::<arrow_array::types::TimestampMillisecondType>();
    Some(ts.reinterpret_cast::<Int64Type>())
}

fn to_string(
    src: &ArrayRef,
    role: Role,
    opts: &CastOptions,
    fails: &mut Fails,
) -> Option<StringArray> {
    use DataType::*;
    let strings: StringArray = match src.data_type() {
        dt if dt.is_nested()
            || matches!(dt, Binary | LargeBinary | BinaryView | FixedSizeBinary(_)) =>
        {
            return None;
        }
        Timestamp(..) => timestamps_to_strings(src, role, fails)?,
        Date32 | Date64 if role == Role::EventTime => {
            let ts = arrow_cast::cast(src, &Timestamp(TimeUnit::Millisecond, None)).ok()?;
            timestamps_to_strings(&ts, role, fails)?
        }
        Date64 => to_utf8(&arrow_cast::cast(src, &Date32).ok()?)?
            .as_string::<i32>()
            .clone(),
        Float16 | Float32 | Float64 if !opts.allow_non_finite => {
            let floats = arrow_cast::cast(src, &Float64).ok()?;
            for (i, v) in floats.as_primitive::<Float64Type>().iter().enumerate() {
                if v.is_some_and(|v| !v.is_finite()) {
                    fails.push((
                        i,
                        "is not a finite number (NaN and infinities are refused unless allowed)"
                            .into(),
                    ));
                }
            }
            to_utf8(src)?.as_string::<i32>().clone()
        }
        _ => to_utf8(src)?.as_string::<i32>().clone(),
    };
    for (i, v) in strings.iter().enumerate() {
        let Some(s) = v else { continue };
        let limit = if role == Role::Identifier {
            MAX_RECORD_IDENTIFIER_BYTES
        } else {
            MAX_VALUE_BYTES
        };
        if s.len() > limit {
            fails.push((
                i,
                format!(
                    "is {} bytes; {} value may be at most {limit} bytes",
                    s.len(),
                    role.a_name()
                ),
            ));
        } else if role == Role::EventTime
            && !matches!(src.data_type(), Timestamp(..) | Date32 | Date64)
            && let Err(e) = EventTime::parse_iso(s)
        {
            fails.push((i, event_time_reason(&e)));
        }
    }
    Some(strings)
}

/// Timestamps as text: the event time in the service's millisecond form,
/// other features as RFC 3339 with as many fractional digits as needed.
fn timestamps_to_strings(src: &ArrayRef, role: Role, fails: &mut Fails) -> Option<StringArray> {
    let DataType::Timestamp(unit, _) = src.data_type() else {
        return None;
    };
    let nanos_per = match unit {
        TimeUnit::Second => 1_000_000_000i128,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    let raw = arrow_cast::cast(src, &DataType::Int64).ok()?;
    let out = raw
        .as_primitive::<Int64Type>()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v?;
            let nanos = i128::from(v) * nanos_per;
            let millis = nanos.div_euclid(1_000_000);
            let in_range = i64::try_from(millis)
                .ok()
                .and_then(|m| EventTime::from_millis(m).ok());
            let Some(t) = in_range else {
                fails.push((i, "is outside years 0000 to 9999".into()));
                return None;
            };
            if role == Role::EventTime {
                Some(t.to_iso())
            } else {
                let sub_milli = (nanos.rem_euclid(1_000_000)) as u32;
                let dt = t.to_datetime() + chrono::Duration::nanoseconds(i64::from(sub_milli));
                Some(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
        })
        .collect();
    Some(out)
}

/// The list with offsets starting at 0 and values holding only its own
/// elements (the values of a sliced list hold the other rows' too).
fn compact(list: &ListArray) -> ListArray {
    let offsets = list.offsets();
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    if first == 0 && last as usize == list.values().len() {
        return list.clone();
    }
    let DataType::List(field) = list.data_type() else {
        unreachable!("a ListArray has a List type")
    };
    let shifted: Vec<i32> = offsets.iter().map(|o| o - first).collect();
    ListArray::new(
        field.clone(),
        OffsetBuffer::new(shifted.into()),
        list.values().slice(first as usize, (last - first) as usize),
        list.nulls().cloned(),
    )
}

/// Casts a list-like column to a collection feature.
fn cast_collection(
    src: &ArrayRef,
    def: &FeatureDefinition,
    collection: Collection,
    opts: &CastOptions,
) -> Option<(ArrayRef, RowFails)> {
    let item = match src.data_type() {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => f.clone(),
        _ => return None,
    };
    let as_list = arrow_cast::cast(src, &DataType::List(item)).ok()?;
    let list = &compact(as_list.as_list::<i32>());
    let offsets = list.offsets();
    let values = list.values();
    let (converted, elem_fails) = cast_scalar(values, def.feature_type, Role::Plain, opts)?;

    // Map element failures to rows.
    let row_of = |elem: usize| offsets.partition_point(|&o| (o as usize) <= elem) - 1;
    let mut fails = Fails::new();
    let mut rendered = RowFails::new();
    for (elem, value, reason) in render(values, elem_fails) {
        let row = row_of(elem);
        let pos = elem - offsets[row] as usize;
        rendered.push((row, value, format!("element {pos} {reason}")));
    }
    for row in 0..list.len() {
        if list.is_null(row) {
            continue;
        }
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        if let Some(pos) = (start..end).find(|&e| values.is_null(e)) {
            fails.push((
                row,
                format!("element {} is null; collections hold no nulls", pos - start),
            ));
            continue;
        }
        match collection {
            Collection::Set => {
                let texts = to_utf8(&converted.slice(start, end - start))?;
                let mut seen = HashSet::new();
                if let Some(dup) = texts
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .find(|s| !seen.insert(*s))
                {
                    fails.push((row, format!("repeats {dup:?}; a Set holds distinct values")));
                }
            }
            Collection::Vector { dimension } if end - start != dimension as usize => {
                fails.push((
                    row,
                    format!(
                        "has {} elements; the Vector has dimension {dimension}",
                        end - start
                    ),
                ));
            }
            _ => {}
        }
    }
    rendered.extend(render(src, fails));

    let field = arrow_field(def, true);
    let array: ArrayRef = match (collection, field.data_type()) {
        (Collection::Vector { dimension }, DataType::FixedSizeList(item, _)) => {
            let dim = dimension as usize;
            let bad: HashSet<usize> = rendered.iter().map(|(r, _, _)| *r).collect();
            let indices: UInt32Array = (0..list.len())
                .flat_map(|row| {
                    let usable = !list.is_null(row) && !bad.contains(&row);
                    let start = offsets[row] as usize;
                    (0..dim).map(move |k| usable.then(|| (start + k) as u32))
                })
                .collect();
            let taken = arrow_select::take::take(&converted, &indices, None).ok()?;
            let nulls: Option<arrow_buffer::NullBuffer> = Some(
                (0..list.len())
                    .map(|row| !list.is_null(row) && !bad.contains(&row))
                    .collect(),
            );
            Arc::new(
                FixedSizeListArray::try_new(item.clone(), dimension as i32, taken, nulls).ok()?,
            )
        }
        (_, DataType::List(item)) => Arc::new(
            ListArray::try_new(
                item.clone(),
                OffsetBuffer::new(offsets.inner().clone()),
                converted,
                list.nulls().cloned(),
            )
            .ok()?,
        ),
        _ => return None,
    };
    Some((array, rendered))
}
