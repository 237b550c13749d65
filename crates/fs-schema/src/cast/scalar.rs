//! Casting of scalar columns to Integral, Fractional and String features.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, PrimitiveArray, StringArray};
use arrow_schema::{DataType, TimeUnit};

use crate::error::Error;
use crate::event_time::EventTime;
use crate::limits::{MAX_RECORD_IDENTIFIER_BYTES, MAX_VALUE_BYTES};
use crate::types::FeatureType;

use super::{CastOptions, Fails, Role};

pub(super) fn is_string_like(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_like(v),
        _ => false,
    }
}

pub(super) fn to_utf8(src: &ArrayRef) -> Option<ArrayRef> {
    arrow_cast::cast(src, &DataType::Utf8).ok()
}

/// Casts a scalar array to `target`; `None` when no cast exists.
pub(super) fn cast_scalar(
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

pub(super) fn parse_strings<T: arrow_array::ArrowPrimitiveType>(
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

pub(super) fn to_int64(
    src: &ArrayRef,
    opts: &CastOptions,
    fails: &mut Fails,
) -> Option<Int64Array> {
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

pub(super) fn check_finite(v: f64, allow_non_finite: bool) -> std::result::Result<f64, String> {
    if v.is_finite() || allow_non_finite {
        Ok(v)
    } else {
        Err("is not a finite number (NaN and infinities are refused unless allowed)".into())
    }
}

/// The checks every Fractional value passes: finite unless non-finite
/// values are allowed, and within the event-time range for an event time.
#[derive(Clone, Copy)]
struct FloatCheck {
    allow_nf: bool,
    event_time: bool,
}

impl FloatCheck {
    /// `v` if it passes, else why not.
    fn check(self, v: f64) -> std::result::Result<f64, String> {
        let v = check_finite(v, self.allow_nf)?;
        if self.event_time {
            // Keep the value as given; only its range is checked.
            EventTime::from_fractional_seconds(v).map_err(|e| event_time_reason(&e))?;
        }
        Ok(v)
    }
}

/// The value of row `i` if `r` holds one; otherwise the row's failure is
/// pushed to `fails` and the value is null.
fn keep_or_fail(fails: &mut Fails, i: usize, r: std::result::Result<f64, String>) -> Option<f64> {
    match r {
        Ok(v) => Some(v),
        Err(reason) => {
            fails.push((i, reason));
            None
        }
    }
}

pub(super) fn to_float64(
    src: &ArrayRef,
    role: Role,
    allow_nf: bool,
    opts: &CastOptions,
    fails: &mut Fails,
) -> Option<Float64Array> {
    use DataType::*;
    let check = FloatCheck {
        allow_nf,
        event_time: role == Role::EventTime,
    };
    Some(match src.data_type() {
        Float16 | Float32 | Float64 => floats_to_float64(src, check, fails)?,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => {
            integers_to_float64(src, check, fails)?
        }
        Boolean => src
            .as_boolean()
            .iter()
            .map(|v| v.map(|b| if b { 1.0 } else { 0.0 }))
            .collect(),
        Timestamp(..) | Date32 | Date64 => temporal_to_float64(src, check, fails)?,
        Null => Float64Array::new_null(src.len()),
        dt if is_string_like(dt)
            || matches!(
                dt,
                Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..)
            ) =>
        {
            parse_float64(src, check, opts, fails)?
        }
        _ => return None,
    })
}

/// A float column as Float64, each value checked.
fn floats_to_float64(src: &ArrayRef, check: FloatCheck, fails: &mut Fails) -> Option<Float64Array> {
    let floats = arrow_cast::cast(src, &DataType::Float64).ok()?;
    Some(
        floats
            .as_primitive::<Float64Type>()
            .iter()
            .enumerate()
            .map(|(i, v)| v.and_then(|v| keep_or_fail(fails, i, check.check(v))))
            .collect(),
    )
}

/// An integer column as Float64: each value must be exactly representable
/// as a 64-bit float, and is then checked.
fn integers_to_float64(
    src: &ArrayRef,
    check: FloatCheck,
    fails: &mut Fails,
) -> Option<Float64Array> {
    let exact = |v: i128| -> std::result::Result<f64, String> {
        let f = v as f64;
        if f as i128 == v {
            Ok(f)
        } else {
            Err("cannot be represented exactly as a 64-bit float".into())
        }
    };
    let wide: Vec<Option<i128>> = match src.data_type() {
        DataType::UInt64 => src
            .as_primitive::<arrow_array::types::UInt64Type>()
            .iter()
            .map(|v| v.map(i128::from))
            .collect(),
        _ => arrow_cast::cast(src, &DataType::Int64)
            .ok()?
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(i128::from))
            .collect(),
    };
    Some(
        wide.into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.and_then(|v| keep_or_fail(fails, i, exact(v).and_then(|f| check.check(f))))
            })
            .collect(),
    )
}

/// A timestamp or date column as Float64 seconds since the epoch, each
/// value checked; a value outside years 0000 to 9999 fails its row.
fn temporal_to_float64(
    src: &ArrayRef,
    check: FloatCheck,
    fails: &mut Fails,
) -> Option<Float64Array> {
    let millis = temporal_millis(src)?;
    Some(
        millis
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(ms) => keep_or_fail(fails, i, check.check(ms as f64 / 1000.0)),
                // Arrow's cast to milliseconds overflowed (and made a null).
                None if src.is_valid(i) => {
                    keep_or_fail(fails, i, Err("is outside years 0000 to 9999".into()))
                }
                None => None,
            })
            .collect(),
    )
}

/// A string or decimal column parsed as Float64, each value checked; for
/// an event time, an ISO-8601 time is accepted too.
fn parse_float64(
    src: &ArrayRef,
    check: FloatCheck,
    opts: &CastOptions,
    fails: &mut Fails,
) -> Option<Float64Array> {
    parse_strings::<Float64Type>(src, opts.empty_string_as_null, fails, |s| {
        match s.trim().parse::<f64>() {
            Ok(v) => check.check(v),
            // An ISO-8601 event time is accepted for a Fractional event time.
            Err(_) if check.event_time => EventTime::parse_iso(s)
                .map(|t| t.to_fractional_seconds())
                .map_err(|_| {
                    "is neither seconds since the epoch nor an ISO-8601 event time".into()
                }),
            Err(_) => Err("is not a number".into()),
        }
    })
}

pub(super) fn event_time_reason(e: &Error) -> String {
    match e {
        Error::InvalidEventTime { reason, .. } => format!("is not a valid event time: {reason}"),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch of a timestamp or date array.
pub(super) fn temporal_millis(src: &ArrayRef) -> Option<Int64Array> {
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

pub(super) fn to_string(
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
pub(super) fn timestamps_to_strings(
    src: &ArrayRef,
    role: Role,
    fails: &mut Fails,
) -> Option<StringArray> {
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
