//! The strict cast: every source type to each target, and every failure
//! naming its column, row and value.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, FixedSizeListArray,
    Float64Array, Int64Array, ListArray, NullArray, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field};
use fs_schema::limits::{MAX_RECORD_IDENTIFIER_BYTES, MAX_VALUE_BYTES};
use fs_schema::{
    CastFailure, CastOptions, Collection, Error, FeatureDefinition, FeatureGroup, FeatureType,
    OnlineStoreConfig, arrow_schema, cast_batch, cast_batch_lenient, infer_group,
};

use crate::{assert_mentions, in_memory_group, online_group};

const TS: &str = "2024-01-01T00:00:00Z";

fn ids(n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| format!("r{i}")),
    ))
}

fn times(n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![TS; n]))
}

/// A batch `id`, `ts`, `x` with valid identifiers and event times.
fn x_batch(x: ArrayRef) -> RecordBatch {
    let n = x.len();
    RecordBatch::try_from_iter([("id", ids(n)), ("ts", times(n)), ("x", x)]).unwrap()
}

/// Group `g`: String `id`, String `ts`, and `def` (InMemory when it is a collection).
fn group_for(def: FeatureDefinition) -> FeatureGroup {
    if def.is_collection() {
        in_memory_group([def])
    } else {
        online_group([def])
    }
}

fn cast_x(
    def: FeatureDefinition,
    x: ArrayRef,
    opts: &CastOptions,
) -> fs_schema::Result<RecordBatch> {
    cast_batch(&x_batch(x), &group_for(def), opts)
}

/// Casts `x` to the scalar `target` as feature `x` and returns the cast column.
#[track_caller]
fn cast_ok(target: FeatureType, x: ArrayRef) -> ArrayRef {
    cast_ok_with(
        FeatureDefinition::new("x", target),
        x,
        &CastOptions::default(),
    )
}

#[track_caller]
fn cast_ok_with(def: FeatureDefinition, x: ArrayRef, opts: &CastOptions) -> ArrayRef {
    let dt = x.data_type().clone();
    let batch = cast_x(def, x, opts).unwrap_or_else(|e| panic!("{dt}: {e}"));
    batch.column(2).clone()
}

/// Casts `x` to feature `def` and returns the failures of the `Error::Cast`.
#[track_caller]
fn cast_fails(def: FeatureDefinition, x: ArrayRef, opts: &CastOptions) -> Vec<CastFailure> {
    match cast_x(def, x, opts) {
        Err(Error::Cast { failures }) => failures,
        other => panic!("expected Error::Cast, got {other:?}"),
    }
}

/// Asserts a failure's row, column, value and (a part of) its reason.
#[track_caller]
fn assert_failure(f: &CastFailure, row: usize, column: &str, value: Option<&str>, reason: &str) {
    assert_eq!(f.row, row, "{f}");
    assert_eq!(f.column, column, "{f}");
    assert_eq!(f.value.as_deref(), value, "{f}");
    assert!(f.reason.contains(reason), "{f} does not say {reason:?}");
}

/// `values` cast by Arrow itself to `dt`: the source columns of the matrix.
fn to_type(values: ArrayRef, dt: &DataType) -> ArrayRef {
    arrow_cast::cast(&values, dt).unwrap_or_else(|e| panic!("{dt}: {e}"))
}

fn ints(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn floats(values: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn strings(values: Vec<Option<&str>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn dict(key: DataType, value: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(value))
}

fn string_lists(rows: &[Option<&[Option<&str>]>]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in rows {
        match row {
            None => b.append_null(),
            Some(items) => {
                for item in *items {
                    b.values().append_option(*item);
                }
                b.append(true);
            }
        }
    }
    Arc::new(b.finish())
}

fn int_lists(rows: Vec<Option<Vec<Option<i64>>>>) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(rows))
}

fn float_lists(rows: Vec<Option<Vec<Option<f64>>>>) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(rows))
}

const SIGNED: [DataType; 4] = [
    DataType::Int8,
    DataType::Int16,
    DataType::Int32,
    DataType::Int64,
];
const UNSIGNED: [DataType; 4] = [
    DataType::UInt8,
    DataType::UInt16,
    DataType::UInt32,
    DataType::UInt64,
];
const FLOATS: [DataType; 3] = [DataType::Float16, DataType::Float32, DataType::Float64];
const DECIMALS: [DataType; 5] = [
    DataType::Decimal32(9, 2),
    DataType::Decimal64(18, 0),
    DataType::Decimal128(10, 2),
    DataType::Decimal128(38, 10),
    DataType::Decimal256(40, 3),
];

fn text_types() -> Vec<DataType> {
    vec![
        DataType::Utf8,
        DataType::LargeUtf8,
        DataType::Utf8View,
        dict(DataType::Int32, DataType::Utf8),
        dict(DataType::UInt8, DataType::LargeUtf8),
    ]
}

// ---------------------------------------------------------------- successful casts to Integral

#[test]
fn every_integer_type_casts_to_integral() {
    for dt in SIGNED.iter().chain(&UNSIGNED) {
        let signed = SIGNED.contains(dt);
        let input = ints(vec![
            Some(5),
            None,
            Some(if signed { -7 } else { 7 }),
            Some(0),
        ]);
        let out = cast_ok(FeatureType::Integral, to_type(input.clone(), dt));
        assert_eq!(
            out.as_primitive::<Int64Type>(),
            input.as_primitive::<Int64Type>(),
            "{dt}"
        );
    }
    let extremes = ints(vec![Some(i64::MIN), Some(i64::MAX)]);
    assert_eq!(
        cast_ok(FeatureType::Integral, extremes.clone()).as_primitive::<Int64Type>(),
        extremes.as_primitive()
    );
    let largest = Arc::new(UInt64Array::from(vec![i64::MAX as u64]));
    assert_eq!(
        cast_ok(FeatureType::Integral, largest)
            .as_primitive::<Int64Type>()
            .value(0),
        i64::MAX
    );
}

#[test]
fn whole_floats_cast_to_integral() {
    for dt in FLOATS {
        let out = cast_ok(
            FeatureType::Integral,
            to_type(floats(vec![Some(2.0), None, Some(-3.0)]), &dt),
        );
        assert_eq!(
            out.as_primitive::<Int64Type>(),
            &Int64Array::from(vec![Some(2), None, Some(-3)]),
            "{dt}"
        );
    }
    let big = floats(vec![Some(-(2f64.powi(63))), Some(2f64.powi(62))]);
    assert_eq!(
        cast_ok(FeatureType::Integral, big).as_primitive::<Int64Type>(),
        &Int64Array::from(vec![i64::MIN, 1 << 62])
    );
}

#[test]
fn booleans_cast_to_integral_as_0_and_1() {
    let src: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
    assert_eq!(
        cast_ok(FeatureType::Integral, src).as_primitive::<Int64Type>(),
        &Int64Array::from(vec![Some(1), None, Some(0)])
    );
}

#[test]
fn whole_decimals_cast_to_integral() {
    for dt in DECIMALS {
        let out = cast_ok(
            FeatureType::Integral,
            to_type(ints(vec![Some(12), None, Some(-4)]), &dt),
        );
        assert_eq!(
            out.as_primitive::<Int64Type>(),
            &Int64Array::from(vec![Some(12), None, Some(-4)]),
            "{dt}"
        );
    }
}

#[test]
fn integer_text_casts_to_integral() {
    for dt in text_types() {
        let src = to_type(
            strings(vec![
                Some("42"),
                None,
                Some("-7"),
                Some(" 8 "),
                Some("12.000"),
                Some("+3"),
            ]),
            &dt,
        );
        let out = cast_ok(FeatureType::Integral, src);
        assert_eq!(
            out.as_primitive::<Int64Type>(),
            &Int64Array::from(vec![Some(42), None, Some(-7), Some(8), Some(12), Some(3)]),
            "{dt}"
        );
    }
}

#[test]
fn dictionary_of_integers_casts_to_integral() {
    let src = to_type(
        ints(vec![Some(3), Some(3), None, Some(-1)]),
        &dict(DataType::Int8, DataType::Int64),
    );
    assert_eq!(
        cast_ok(FeatureType::Integral, src).as_primitive::<Int64Type>(),
        &Int64Array::from(vec![Some(3), Some(3), None, Some(-1)])
    );
}

#[test]
fn null_column_casts_to_nulls_of_every_type() {
    for (target, dt) in [
        (FeatureType::Integral, DataType::Int64),
        (FeatureType::Fractional, DataType::Float64),
        (FeatureType::String, DataType::Utf8),
    ] {
        let out = cast_ok(target, Arc::new(NullArray::new(3)));
        assert_eq!(out.data_type(), &dt);
        assert_eq!(out.null_count(), 3, "{target}");
    }
}

// ---------------------------------------------------------------- successful casts to Fractional

#[test]
fn every_numeric_type_casts_to_fractional() {
    let expected = Float64Array::from(vec![Some(5.0), None, Some(7.0), Some(0.0)]);
    let sources = SIGNED
        .iter()
        .chain(&UNSIGNED)
        .chain(&FLOATS)
        .chain(&DECIMALS)
        .cloned()
        .chain(text_types());
    for dt in sources {
        let src = to_type(ints(vec![Some(5), None, Some(7), Some(0)]), &dt);
        let out = cast_ok(FeatureType::Fractional, src);
        assert_eq!(out.as_primitive::<Float64Type>(), &expected, "{dt}");
    }
    let src = to_type(
        ints(vec![Some(5), None]),
        &dict(DataType::Int16, DataType::Int32),
    );
    assert_eq!(
        cast_ok(FeatureType::Fractional, src).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![Some(5.0), None])
    );
}

#[test]
fn fractions_survive_the_cast_to_fractional() {
    let sources = FLOATS
        .iter()
        .cloned()
        .chain([DataType::Decimal128(10, 2), DataType::Decimal256(40, 3)])
        .chain(text_types());
    for dt in sources {
        let src = to_type(floats(vec![Some(2.5), Some(-0.25)]), &dt);
        let out = cast_ok(FeatureType::Fractional, src);
        assert_eq!(
            out.as_primitive::<Float64Type>(),
            &Float64Array::from(vec![2.5, -0.25]),
            "{dt}"
        );
    }
    let text = strings(vec![Some("1e-3"), Some(" 7.5 "), Some("-0")]);
    assert_eq!(
        cast_ok(FeatureType::Fractional, text).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![0.001, 7.5, -0.0])
    );
}

#[test]
fn booleans_cast_to_fractional_as_0_and_1() {
    let src: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
    assert_eq!(
        cast_ok(FeatureType::Fractional, src).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![Some(1.0), None, Some(0.0)])
    );
}

#[test]
fn integers_up_to_2_pow_53_cast_to_fractional_exactly() {
    let exact = 1i64 << 53;
    let out = cast_ok(
        FeatureType::Fractional,
        ints(vec![Some(exact), Some(-exact), Some(1 << 60)]),
    );
    assert_eq!(
        out.as_primitive::<Float64Type>(),
        &Float64Array::from(vec![exact as f64, -exact as f64, (1i64 << 60) as f64])
    );
}

#[test]
fn dates_and_timestamps_cast_to_fractional_seconds() {
    // 2024-03-01T12:30:00Z
    let secs = 1_709_296_200i64;
    let cases: Vec<(ArrayRef, f64)> = vec![
        (
            Arc::new(Date32Array::from(vec![Some(19_783), None])),
            1_709_251_200.0,
        ),
        (
            Arc::new(Date64Array::from(vec![Some(1_709_251_200_000), None])),
            1_709_251_200.0,
        ),
        (
            Arc::new(TimestampSecondArray::from(vec![Some(secs), None])),
            secs as f64,
        ),
        (
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(secs * 1_000 + 250),
                None,
            ])),
            secs as f64 + 0.25,
        ),
        (
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(secs * 1_000_000), None])
                    .with_timezone("UTC"),
            ),
            secs as f64,
        ),
        (
            Arc::new(
                TimestampNanosecondArray::from(vec![Some(secs * 1_000_000_000), None])
                    .with_timezone("+02:00"),
            ),
            secs as f64,
        ),
    ];
    for (src, expected) in cases {
        let dt = src.data_type().clone();
        let out = cast_ok(FeatureType::Fractional, src);
        assert_eq!(
            out.as_primitive::<Float64Type>(),
            &Float64Array::from(vec![Some(expected), None]),
            "{dt}"
        );
    }
}

// ---------------------------------------------------------------- successful casts to String

#[track_caller]
fn assert_strings(out: &ArrayRef, expected: &[Option<&str>]) {
    assert_eq!(
        out.as_string::<i32>(),
        &StringArray::from(expected.to_vec())
    );
}

#[test]
fn integers_and_booleans_cast_to_their_text() {
    for dt in SIGNED {
        let out = cast_ok(
            FeatureType::String,
            to_type(ints(vec![Some(-5), None, Some(7)]), &dt),
        );
        assert_strings(&out, &[Some("-5"), None, Some("7")]);
    }
    for dt in UNSIGNED {
        let out = cast_ok(FeatureType::String, to_type(ints(vec![Some(5), None]), &dt));
        assert_strings(&out, &[Some("5"), None]);
    }
    let big: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX]));
    assert_strings(
        &cast_ok(FeatureType::String, big),
        &[Some("18446744073709551615")],
    );
    let bools: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
    assert_strings(
        &cast_ok(FeatureType::String, bools),
        &[Some("true"), None, Some("false")],
    );
}

#[test]
fn floats_and_decimals_cast_to_their_text() {
    for dt in FLOATS {
        let out = cast_ok(
            FeatureType::String,
            to_type(floats(vec![Some(2.5), None, Some(-0.125)]), &dt),
        );
        assert_strings(&out, &[Some("2.5"), None, Some("-0.125")]);
    }
    let out = cast_ok(
        FeatureType::String,
        to_type(floats(vec![Some(2.5)]), &DataType::Decimal128(10, 2)),
    );
    assert_strings(&out, &[Some("2.50")]);
    let out = cast_ok(
        FeatureType::String,
        to_type(floats(vec![Some(2.5)]), &DataType::Decimal32(9, 1)),
    );
    assert_strings(&out, &[Some("2.5")]);
}

#[test]
fn text_of_every_string_type_casts_to_string_unchanged() {
    for dt in text_types() {
        let src = to_type(
            strings(vec![Some("caf\u{e9}"), None, Some(""), Some(" padded ")]),
            &dt,
        );
        let out = cast_ok(FeatureType::String, src);
        assert_strings(&out, &[Some("caf\u{e9}"), None, Some(""), Some(" padded ")]);
    }
}

#[test]
fn dates_cast_to_iso_dates() {
    let d32: ArrayRef = Arc::new(Date32Array::from(vec![Some(19_783), None, Some(-1)]));
    assert_strings(
        &cast_ok(FeatureType::String, d32),
        &[Some("2024-03-01"), None, Some("1969-12-31")],
    );
    let d64: ArrayRef = Arc::new(Date64Array::from(vec![Some(1_709_251_200_000)]));
    assert_strings(&cast_ok(FeatureType::String, d64), &[Some("2024-03-01")]);
}

#[test]
fn timestamps_of_every_unit_cast_to_rfc3339_utc() {
    let secs = 1_709_296_200i64;
    let cases: Vec<(ArrayRef, &str)> = vec![
        (
            Arc::new(TimestampSecondArray::from(vec![Some(secs), None])),
            "2024-03-01T12:30:00Z",
        ),
        (
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(secs * 1_000 + 5),
                None,
            ])),
            "2024-03-01T12:30:00.005Z",
        ),
        (
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(secs * 1_000_000 + 123_456),
                None,
            ])),
            "2024-03-01T12:30:00.123456Z",
        ),
        (
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(secs * 1_000_000_000 + 123_456_789),
                None,
            ])),
            "2024-03-01T12:30:00.123456789Z",
        ),
        (
            Arc::new(TimestampSecondArray::from(vec![Some(secs), None]).with_timezone("+02:00")),
            "2024-03-01T12:30:00Z",
        ),
        (
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(secs * 1_000), None])
                    .with_timezone("America/New_York"),
            ),
            "2024-03-01T12:30:00Z",
        ),
        (
            Arc::new(TimestampSecondArray::from(vec![Some(-1), None])),
            "1969-12-31T23:59:59Z",
        ),
    ];
    for (src, expected) in cases {
        let dt = src.data_type().clone();
        let out = cast_ok(FeatureType::String, src);
        assert_eq!(
            out.as_string::<i32>(),
            &StringArray::from(vec![Some(expected), None]),
            "{dt}"
        );
    }
}

#[test]
fn timestamps_at_the_year_0000_and_9999_bounds_cast_to_string() {
    let src: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
        -62_167_219_200,
        253_402_300_799,
    ]));
    assert_strings(
        &cast_ok(FeatureType::String, src),
        &[Some("0000-01-01T00:00:00Z"), Some("9999-12-31T23:59:59Z")],
    );
}

// ---------------------------------------------------------------- event times

fn event_time_group(ts_type: FeatureType) -> FeatureGroup {
    FeatureGroup::builder("g", "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::new("ts", ts_type),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap()
}

fn ts_batch(ts: ArrayRef) -> RecordBatch {
    RecordBatch::try_from_iter([("id", ids(ts.len())), ("ts", ts)]).unwrap()
}

fn cast_ts(ts_type: FeatureType, ts: ArrayRef, opts: &CastOptions) -> fs_schema::Result<ArrayRef> {
    cast_batch(&ts_batch(ts), &event_time_group(ts_type), opts).map(|b| b.column(1).clone())
}

fn ts_failures(ts_type: FeatureType, ts: ArrayRef, opts: &CastOptions) -> Vec<CastFailure> {
    match cast_ts(ts_type, ts, opts) {
        Err(Error::Cast { failures }) => failures,
        other => panic!("expected Error::Cast, got {other:?}"),
    }
}

#[test]
fn string_event_time_accepts_both_iso_forms_and_keeps_the_text() {
    let src = strings(vec![
        Some("2024-03-01T12:30:00Z"),
        Some("2024-03-01T12:30:00.123Z"),
    ]);
    let out = cast_ts(FeatureType::String, src, &CastOptions::default()).unwrap();
    assert_strings(
        &out,
        &[
            Some("2024-03-01T12:30:00Z"),
            Some("2024-03-01T12:30:00.123Z"),
        ],
    );
}

#[test]
fn timestamp_event_time_casts_to_the_millisecond_iso_form() {
    let secs = 1_709_296_200i64;
    let src: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(vec![secs * 1_000_000_000 + 123_456_789])
            .with_timezone("UTC"),
    );
    let out = cast_ts(FeatureType::String, src, &CastOptions::default()).unwrap();
    assert_strings(&out, &[Some("2024-03-01T12:30:00.123Z")]);
    let src: ArrayRef = Arc::new(TimestampSecondArray::from(vec![secs]).with_timezone("-05:00"));
    let out = cast_ts(FeatureType::String, src, &CastOptions::default()).unwrap();
    assert_strings(&out, &[Some("2024-03-01T12:30:00.000Z")]);
}

#[test]
fn date_event_time_casts_to_the_iso_form_of_midnight() {
    let d32: ArrayRef = Arc::new(Date32Array::from(vec![19_783]));
    let out = cast_ts(FeatureType::String, d32, &CastOptions::default()).unwrap();
    assert_strings(&out, &[Some("2024-03-01T00:00:00.000Z")]);
    let d64: ArrayRef = Arc::new(Date64Array::from(vec![1_709_251_200_000]));
    let out = cast_ts(FeatureType::String, d64, &CastOptions::default()).unwrap();
    assert_strings(&out, &[Some("2024-03-01T00:00:00.000Z")]);
}

#[test]
fn fractional_event_time_accepts_numbers_timestamps_and_iso_text() {
    let expected = Float64Array::from(vec![1_709_296_200.0]);
    let sources: Vec<ArrayRef> = vec![
        ints(vec![Some(1_709_296_200)]),
        floats(vec![Some(1_709_296_200.0)]),
        strings(vec![Some("1709296200")]),
        strings(vec![Some("2024-03-01T12:30:00Z")]),
        Arc::new(TimestampMillisecondArray::from(vec![1_709_296_200_000])),
    ];
    for src in sources {
        let dt = src.data_type().clone();
        let out = cast_ts(FeatureType::Fractional, src, &CastOptions::default())
            .unwrap_or_else(|e| panic!("{dt}: {e}"));
        assert_eq!(out.as_primitive::<Float64Type>(), &expected, "{dt}");
    }
}

#[test]
fn inferred_group_casts_the_batch_it_was_inferred_from() {
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(arrow_array::Int32Array::from(vec![1, 2])) as ArrayRef,
        ),
        (
            "day",
            Arc::new(Date32Array::from(vec![19_783, 19_784])) as ArrayRef,
        ),
        ("secs", ints(vec![Some(1_709_296_200), Some(1_709_296_201)])),
        (
            "at",
            Arc::new(TimestampMicrosecondArray::from(vec![0, 1_000])) as ArrayRef,
        ),
    ])
    .unwrap();
    for ts in ["day", "secs", "at"] {
        let group = infer_group("g", "id", ts, &batch.schema())
            .unwrap()
            .online_store(OnlineStoreConfig::enabled())
            .build()
            .unwrap();
        let typed = cast_batch(&batch, &group, &CastOptions::default())
            .unwrap_or_else(|e| panic!("{ts}: {e}"));
        assert_eq!(typed.schema(), arrow_schema(&group), "{ts}");
        assert_eq!(typed.num_rows(), 2);
    }
}

#[test]
fn bad_iso_event_times_fail_naming_row_column_and_value() {
    let src = strings(vec![
        Some(TS),
        Some("2024-03-01 12:30:00"),
        Some("2024-02-30T00:00:00Z"),
    ]);
    let failures = ts_failures(FeatureType::String, src, &CastOptions::default());
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "ts",
        Some("2024-03-01 12:30:00"),
        "yyyy-MM-dd'T'HH:mm:ssZ",
    );
    assert_failure(
        &failures[1],
        2,
        "ts",
        Some("2024-02-30T00:00:00Z"),
        "calendar date",
    );
}

#[test]
fn unparseable_fractional_event_time_fails_naming_both_forms() {
    let failures = ts_failures(
        FeatureType::Fractional,
        strings(vec![Some("1"), Some("yesterday")]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "ts",
        Some("yesterday"),
        "neither seconds since the epoch nor an ISO-8601",
    );
}

#[test]
fn event_time_outside_years_0000_to_9999_fails() {
    let failures = ts_failures(
        FeatureType::Fractional,
        floats(vec![Some(0.0), Some(1e15), Some(-7e10)]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "ts",
        Some("1000000000000000.0"),
        "9999-12-31T23:59:59.999Z",
    );
    assert_failure(
        &failures[1],
        2,
        "ts",
        Some("-70000000000.0"),
        "0000-01-01T00:00:00.000Z",
    );
    let ts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 253_402_300_800]));
    let failures = ts_failures(FeatureType::Fractional, ts.clone(), &CastOptions::default());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].row, 1);
    let failures = ts_failures(FeatureType::String, ts, &CastOptions::default());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "ts",
        failures[0].value.as_deref(),
        "outside years 0000 to 9999",
    );
}

#[test]
fn non_finite_event_time_fails_even_when_non_finite_values_are_allowed() {
    let allow = CastOptions::default().allow_non_finite(true);
    for v in [f64::NAN, f64::INFINITY] {
        let failures = ts_failures(
            FeatureType::Fractional,
            floats(vec![Some(1.0), Some(v)]),
            &allow,
        );
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_failure(&failures[0], 1, "ts", Some(&format!("{v}")), "finite");
    }
    let failures = ts_failures(FeatureType::Fractional, strings(vec![Some("NaN")]), &allow);
    assert_failure(&failures[0], 0, "ts", Some("NaN"), "finite");
}

#[test]
fn null_identifier_fails_naming_the_row() {
    let batch = RecordBatch::try_from_iter([
        ("id", strings(vec![Some("a"), None, Some("c")])),
        ("ts", times(3)),
    ])
    .unwrap();
    let err = cast_batch(&batch, &online_group([]), &CastOptions::default()).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 1);
    assert_failure(
        &failures[0],
        1,
        "id",
        None,
        "is null; every record needs a record identifier",
    );
    assert_mentions(&err, &["row 1", "column \"id\"", "value null"]);
}

#[test]
fn null_event_time_fails_naming_the_row() {
    let failures = ts_failures(
        FeatureType::String,
        strings(vec![None, Some(TS)]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1);
    assert_failure(
        &failures[0],
        0,
        "ts",
        None,
        "every record needs an event time",
    );
    let failures = ts_failures(
        FeatureType::Fractional,
        floats(vec![Some(1.0), None]),
        &CastOptions::default(),
    );
    assert_failure(&failures[0], 1, "ts", None, "is null");
}

#[test]
fn all_null_identifier_column_fails_for_every_row() {
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(NullArray::new(2)) as ArrayRef),
        ("ts", times(2)),
    ])
    .unwrap();
    let err = cast_batch(&batch, &online_group([]), &CastOptions::default()).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_failure(&failures[0], 0, "id", None, "is null");
    assert_failure(&failures[1], 1, "id", None, "is null");
}

#[test]
fn identifier_null_in_a_dictionarys_values_fails() {
    let keys = arrow_array::Int32Array::from(vec![0, 1]);
    let values: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
    let id: ArrayRef = Arc::new(arrow_array::DictionaryArray::try_new(keys, values).unwrap());
    let batch = RecordBatch::try_from_iter([("id", id), ("ts", times(2))]).unwrap();
    let err = cast_batch(&batch, &online_group([]), &CastOptions::default()).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "id",
        None,
        "every record needs a record identifier",
    );
}

// ---------------------------------------------------------------- value failures

#[test]
fn unsigned_above_i64_max_fails_for_integral() {
    let src: ArrayRef = Arc::new(UInt64Array::from(vec![
        Some(1),
        None,
        Some(i64::MAX as u64 + 1),
        Some(u64::MAX),
    ]));
    let failures = cast_fails(
        FeatureDefinition::integral("x"),
        src,
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_failure(
        &failures[0],
        2,
        "x",
        Some("9223372036854775808"),
        "exceeds 9223372036854775807",
    );
    assert_failure(
        &failures[1],
        3,
        "x",
        Some("18446744073709551615"),
        "exceeds 9223372036854775807",
    );
}

#[test]
fn float_with_a_fraction_fails_for_integral() {
    let failures = cast_fails(
        FeatureDefinition::integral("x"),
        floats(vec![Some(1.0), Some(2.5), Some(9.3e18), Some(f64::NAN)]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_failure(&failures[0], 1, "x", Some("2.5"), "has a fractional part");
    assert_failure(
        &failures[1],
        2,
        "x",
        Some("9.3e18"),
        "outside the 64-bit signed range",
    );
    assert_failure(&failures[2], 3, "x", Some("NaN"), "not a finite number");
    let failures = cast_fails(
        FeatureDefinition::integral("x"),
        to_type(floats(vec![Some(0.5)]), &DataType::Decimal128(10, 2)),
        &CastOptions::default(),
    );
    assert_failure(&failures[0], 0, "x", Some("0.50"), "fractional part");
}

#[test]
fn non_finite_floats_fail_for_fractional_unless_allowed() {
    let src = || {
        floats(vec![
            Some(1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
        ])
    };
    let failures = cast_fails(
        FeatureDefinition::fractional("x"),
        src(),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_failure(&failures[0], 1, "x", Some("NaN"), "not a finite number");
    assert_failure(&failures[1], 2, "x", Some("inf"), "not a finite number");
    assert_failure(&failures[2], 3, "x", Some("-inf"), "not a finite number");

    let allow = CastOptions::default().allow_non_finite(true);
    let out = cast_ok_with(FeatureDefinition::fractional("x"), src(), &allow);
    let out = out.as_primitive::<Float64Type>();
    assert!(out.value(1).is_nan());
    assert_eq!(out.value(2), f64::INFINITY);
    assert_eq!(out.value(3), f64::NEG_INFINITY);
    let text = cast_ok_with(
        FeatureDefinition::fractional("x"),
        strings(vec![Some("NaN"), Some("-inf")]),
        &allow,
    );
    assert!(text.as_primitive::<Float64Type>().value(0).is_nan());
    let failures = cast_fails(
        FeatureDefinition::fractional("x"),
        strings(vec![Some("inf")]),
        &CastOptions::default(),
    );
    assert_failure(&failures[0], 0, "x", Some("inf"), "not a finite number");
}

#[test]
fn non_finite_floats_fail_for_string_unless_allowed() {
    let src = || floats(vec![Some(1.5), Some(f64::NAN)]);
    let failures = cast_fails(
        FeatureDefinition::string("x"),
        src(),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(&failures[0], 1, "x", Some("NaN"), "not a finite number");
    let out = cast_ok_with(
        FeatureDefinition::string("x"),
        src(),
        &CastOptions::default().allow_non_finite(true),
    );
    assert_strings(&out, &[Some("1.5"), Some("NaN")]);
}

#[test]
fn unparseable_text_fails_naming_the_value() {
    let failures = cast_fails(
        FeatureDefinition::integral("x"),
        strings(vec![
            Some("12x"),
            Some("1"),
            Some("12.5"),
            Some("99999999999999999999"),
            Some("0x1F"),
        ]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_failure(&failures[0], 0, "x", Some("12x"), "is not an integer");
    assert_failure(&failures[1], 2, "x", Some("12.5"), "fractional part");
    assert_failure(
        &failures[2],
        3,
        "x",
        Some("99999999999999999999"),
        "outside the 64-bit signed range",
    );
    assert_failure(&failures[3], 4, "x", Some("0x1F"), "is not an integer");
    let failures = cast_fails(
        FeatureDefinition::fractional("x"),
        strings(vec![Some("1.5"), Some("one and a half")]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "x",
        Some("one and a half"),
        "is not a number",
    );
}

#[test]
fn empty_text_fails_for_numbers_unless_read_as_null() {
    for def in [
        FeatureDefinition::integral("x"),
        FeatureDefinition::fractional("x"),
    ] {
        let failures = cast_fails(
            def.clone(),
            strings(vec![Some("1"), Some("")]),
            &CastOptions::default(),
        );
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_failure(&failures[0], 1, "x", Some(""), "not a");
        let opts = CastOptions::default().empty_string_as_null(true);
        let out = cast_ok_with(def, strings(vec![Some("1"), Some("")]), &opts);
        assert!(out.is_valid(0) && out.is_null(1));
    }
    // String features keep the empty text either way.
    let opts = CastOptions::default().empty_string_as_null(true);
    let out = cast_ok_with(
        FeatureDefinition::string("x"),
        strings(vec![Some("")]),
        &opts,
    );
    assert_strings(&out, &[Some("")]);
}

#[test]
fn integers_beyond_2_pow_53_fail_for_fractional_when_not_exact() {
    let inexact = (1i64 << 53) + 1;
    let failures = cast_fails(
        FeatureDefinition::fractional("x"),
        ints(vec![Some(1), Some(inexact), Some(-inexact), Some(i64::MAX)]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "x",
        Some("9007199254740993"),
        "cannot be represented exactly",
    );
    assert_failure(
        &failures[1],
        2,
        "x",
        Some("-9007199254740993"),
        "cannot be represented exactly",
    );
    assert_failure(
        &failures[2],
        3,
        "x",
        Some("9223372036854775807"),
        "cannot be represented exactly",
    );
    let big: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX]));
    let failures = cast_fails(
        FeatureDefinition::fractional("x"),
        big,
        &CastOptions::default(),
    );
    assert_failure(
        &failures[0],
        0,
        "x",
        Some("18446744073709551615"),
        "cannot be represented exactly",
    );
}

#[test]
fn timestamps_outside_years_0000_to_9999_fail_for_string() {
    let src: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
        Some(0),
        Some(253_402_300_800),
        Some(-62_167_219_201),
        Some(i64::MAX),
    ]));
    let failures = cast_fails(FeatureDefinition::string("x"), src, &CastOptions::default());
    assert_eq!(
        failures.iter().map(|f| f.row).collect::<Vec<_>>(),
        [1, 2, 3],
        "{failures:?}"
    );
    for f in &failures {
        assert_eq!(f.column, "x");
        assert!(f.value.is_some(), "{f}");
        assert!(f.reason.contains("outside years 0000 to 9999"), "{f}");
    }
    assert!(
        failures[0].value.as_deref().unwrap().contains("10000"),
        "{}",
        failures[0]
    );
}

#[test]
fn timestamp_overflowing_milliseconds_is_a_failure_not_a_null() {
    // 10^17 seconds do not fit in i64 milliseconds; the value must not vanish.
    let src: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
        Some(0),
        Some(100_000_000_000_000_000),
    ]));
    let failures = cast_fails(
        FeatureDefinition::fractional("x"),
        src.clone(),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].row, 1);
    assert_eq!(failures[0].column, "x");
    let failures = ts_failures(FeatureType::Fractional, src, &CastOptions::default());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].row, 1);
}

#[test]
fn oversize_string_value_fails_with_a_shortened_value() {
    let long = "v".repeat(MAX_VALUE_BYTES + 1);
    let ok = "v".repeat(MAX_VALUE_BYTES);
    let failures = cast_fails(
        FeatureDefinition::string("x"),
        strings(vec![Some(&ok), Some(&long)]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    let shown = format!("{}...", "v".repeat(77));
    assert_failure(
        &failures[0],
        1,
        "x",
        Some(&shown),
        "is 358401 bytes; a feature value may be at most 358400 bytes",
    );
}

#[test]
fn oversize_record_identifier_fails() {
    let ok = "i".repeat(MAX_RECORD_IDENTIFIER_BYTES);
    let long = "i".repeat(MAX_RECORD_IDENTIFIER_BYTES + 1);
    let batch = RecordBatch::try_from_iter([
        ("id", strings(vec![Some(&ok), Some(&long)])),
        ("ts", times(2)),
    ])
    .unwrap();
    let err = cast_batch(&batch, &online_group([]), &CastOptions::default()).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!((failures[0].row, failures[0].column.as_str()), (1, "id"));
    assert!(
        failures[0]
            .reason
            .contains("2049 bytes; a record identifier value may be at most 2048 bytes"),
        "{}",
        failures[0]
    );
    assert_eq!(failures[0].value.as_deref().map(str::len), Some(80));
}

// ---------------------------------------------------------------- collections

#[test]
fn lists_of_every_list_type_cast_to_list_features() {
    let def = FeatureDefinition::integral("x").with_collection(Collection::List);
    let expected = int_lists(vec![Some(vec![Some(1), Some(2)]), None, Some(vec![])]);
    let base = int_lists(vec![Some(vec![Some(1), Some(2)]), None, Some(vec![])]);
    let item = Arc::new(Field::new("item", DataType::Int32, true));
    for dt in [
        DataType::List(item.clone()),
        DataType::LargeList(item.clone()),
        DataType::ListView(item.clone()),
        DataType::LargeListView(item.clone()),
    ] {
        let out = cast_ok_with(
            def.clone(),
            to_type(base.clone(), &dt),
            &CastOptions::default(),
        );
        assert_eq!(out.as_list::<i32>(), expected.as_list::<i32>(), "{dt}");
    }
    let text = string_lists(&[Some(&[Some("1"), Some("2")]), None, Some(&[])]);
    let out = cast_ok_with(def, text, &CastOptions::default());
    assert_eq!(out.as_list::<i32>(), expected.as_list::<i32>());
}

#[test]
fn fixed_size_lists_cast_to_vectors_and_lists() {
    let fsl: ArrayRef = Arc::new(
        FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            vec![Some(vec![Some(0.5), Some(1.0), Some(-2.0)]), None],
            3,
        ),
    );
    let vector =
        FeatureDefinition::fractional("x").with_collection(Collection::Vector { dimension: 3 });
    let out = cast_ok_with(vector.clone(), fsl.clone(), &CastOptions::default());
    assert_eq!(
        out.data_type(),
        &DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float64, true)), 3)
    );
    let out = out.as_fixed_size_list();
    assert!(out.is_null(1));
    assert_eq!(
        out.value(0).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![0.5, 1.0, -2.0])
    );

    let lists = float_lists(vec![Some(vec![Some(1.0), Some(2.0), Some(3.0)])]);
    let out = cast_ok_with(vector, lists, &CastOptions::default());
    assert_eq!(
        out.as_fixed_size_list()
            .value(0)
            .as_primitive::<Float64Type>(),
        &Float64Array::from(vec![1.0, 2.0, 3.0])
    );

    let list = FeatureDefinition::fractional("x").with_collection(Collection::List);
    let out = cast_ok_with(list, fsl, &CastOptions::default());
    assert_eq!(
        out.as_list::<i32>().value(0).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![0.5, 1.0, -2.0])
    );
}

#[test]
fn set_with_duplicate_elements_fails_naming_the_element() {
    let set = FeatureDefinition::string("x").with_collection(Collection::Set);
    let src = string_lists(&[Some(&[Some("a"), Some("b")]), Some(&[Some("a"), Some("a")])]);
    let failures = cast_fails(set.clone(), src, &CastOptions::default());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(&failures[0], 1, "x", Some("[a, a]"), "repeats \"a\"");
    // Duplicates are found after the cast: "1" and "1.0" are the same Fractional.
    let fset = FeatureDefinition::fractional("x").with_collection(Collection::Set);
    let failures = cast_fails(
        fset,
        string_lists(&[Some(&[Some("1"), Some("1.0")])]),
        &CastOptions::default(),
    );
    assert_eq!(failures[0].row, 0);
    assert!(
        failures[0].reason.contains("a Set holds distinct values"),
        "{}",
        failures[0]
    );
    let iset = FeatureDefinition::integral("x").with_collection(Collection::Set);
    let out = cast_ok_with(
        iset,
        int_lists(vec![Some(vec![Some(1), Some(2)])]),
        &CastOptions::default(),
    );
    assert_eq!(out.as_list::<i32>().value(0).len(), 2);
}

#[test]
fn vector_of_the_wrong_length_fails() {
    let vector =
        FeatureDefinition::fractional("x").with_collection(Collection::Vector { dimension: 3 });
    let src = float_lists(vec![
        Some(vec![Some(1.0), Some(2.0), Some(3.0)]),
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![]),
    ]);
    let failures = cast_fails(vector.clone(), src, &CastOptions::default());
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "x",
        Some("[1.0, 2.0]"),
        "has 2 elements; the Vector has dimension 3",
    );
    assert_failure(&failures[1], 2, "x", Some("[]"), "has 0 elements");
    let fsl: ArrayRef = Arc::new(
        FixedSizeListArray::from_iter_primitive::<Float64Type, _, _>(
            vec![Some(vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)])],
            4,
        ),
    );
    let failures = cast_fails(vector, fsl, &CastOptions::default());
    assert_failure(
        &failures[0],
        0,
        "x",
        failures[0].value.as_deref(),
        "has 4 elements",
    );
}

#[test]
fn null_elements_in_collections_fail_naming_the_position() {
    let list = FeatureDefinition::integral("x").with_collection(Collection::List);
    let failures = cast_fails(
        list,
        int_lists(vec![Some(vec![Some(1)]), Some(vec![Some(1), None])]),
        &CastOptions::default(),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(
        &failures[0],
        1,
        "x",
        Some("[1, ]"),
        "element 1 is null; collections hold no nulls",
    );
    let vector =
        FeatureDefinition::fractional("x").with_collection(Collection::Vector { dimension: 2 });
    let failures = cast_fails(
        vector,
        float_lists(vec![Some(vec![None, Some(1.0)])]),
        &CastOptions::default(),
    );
    assert_failure(
        &failures[0],
        0,
        "x",
        failures[0].value.as_deref(),
        "element 0 is null",
    );
}

#[test]
fn bad_collection_elements_fail_naming_row_position_and_element() {
    let list = FeatureDefinition::integral("x").with_collection(Collection::List);
    let src = string_lists(&[Some(&[Some("1")]), Some(&[]), Some(&[Some("2"), Some("x")])]);
    let failures = cast_fails(list, src, &CastOptions::default());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_failure(
        &failures[0],
        2,
        "x",
        Some("x"),
        "element 1 is not an integer",
    );
    let fl = FeatureDefinition::fractional("x").with_collection(Collection::List);
    let failures = cast_fails(
        fl,
        float_lists(vec![Some(vec![Some(f64::NAN)])]),
        &CastOptions::default(),
    );
    assert_failure(
        &failures[0],
        0,
        "x",
        Some("NaN"),
        "element 0 is not a finite number",
    );
}

#[test]
fn sliced_list_column_casts_only_its_own_rows() {
    let list = FeatureDefinition::integral("x").with_collection(Collection::List);
    let src = string_lists(&[
        Some(&[Some("bad")]),
        Some(&[Some("1"), Some("2")]),
        Some(&[Some("3")]),
        Some(&[Some("worse")]),
    ]);
    let batch = x_batch(src).slice(1, 2);
    let typed = cast_batch(&batch, &in_memory_group([list]), &CastOptions::default()).unwrap();
    let out = typed.column(2).as_list::<i32>();
    assert_eq!(
        out,
        int_lists(vec![Some(vec![Some(1), Some(2)]), Some(vec![Some(3)])]).as_list::<i32>()
    );
}

// ---------------------------------------------------------------- columns

#[test]
fn missing_identifier_or_event_time_column_is_an_error() {
    let group = online_group([]);
    let batch = RecordBatch::try_from_iter([("ts", times(1))]).unwrap();
    let err = cast_batch(&batch, &group, &CastOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingColumn { column, role: "record identifier" } if column == "id"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"id\"", "record identifier"]);
    let batch = RecordBatch::try_from_iter([("id", ids(1))]).unwrap();
    let err = cast_batch_lenient(&batch, &group, &CastOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingColumn { column, role: "event time" } if column == "ts"),
        "{err:?}"
    );
}

#[test]
fn unknown_column_is_an_error_unless_ignored() {
    let group = online_group([FeatureDefinition::integral("n")]);
    let batch = RecordBatch::try_from_iter([
        ("id", ids(1)),
        ("ts", times(1)),
        ("extra", ints(vec![Some(1)])),
    ])
    .unwrap();
    let err = cast_batch(&batch, &group, &CastOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownFeature { group, feature } if group == "g" && feature == "extra"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"extra\"", "\"g\""]);
    let err = cast_batch_lenient(&batch, &group, &CastOptions::default()).unwrap_err();
    assert!(matches!(err, Error::UnknownFeature { .. }), "{err:?}");
    let typed = cast_batch(
        &batch,
        &group,
        &CastOptions::default().ignore_unknown_columns(true),
    )
    .unwrap();
    assert_eq!(typed.schema(), arrow_schema(&group));
    assert!(typed.column_by_name("extra").is_none());
}

#[test]
fn missing_optional_feature_becomes_a_null_column() {
    let group = in_memory_group([
        FeatureDefinition::integral("n"),
        FeatureDefinition::string("tags").with_collection(Collection::Set),
        FeatureDefinition::fractional("emb").with_collection(Collection::Vector { dimension: 2 }),
    ]);
    let batch = RecordBatch::try_from_iter([("ts", times(2)), ("id", ids(2))]).unwrap();
    let typed = cast_batch(&batch, &group, &CastOptions::default()).unwrap();
    assert_eq!(typed.schema(), arrow_schema(&group));
    assert_eq!(typed.num_rows(), 2);
    for name in ["n", "tags", "emb"] {
        assert_eq!(
            typed.column_by_name(name).unwrap().null_count(),
            2,
            "{name}"
        );
    }
    // Columns come out in definition order whatever the batch's order.
    assert_eq!(typed.column(0).as_string::<i32>().value(1), "r1");
}

#[test]
fn output_schema_is_the_groups_schema_with_required_fields_non_nullable() {
    let group = online_group([FeatureDefinition::integral("n")]);
    let typed = cast_x(
        FeatureDefinition::integral("x"),
        ints(vec![Some(1)]),
        &CastOptions::default(),
    )
    .unwrap();
    assert_eq!(
        typed.schema(),
        arrow_schema(&group_for(FeatureDefinition::integral("x")))
    );
    assert!(!typed.schema().field(0).is_nullable() && !typed.schema().field(1).is_nullable());
    assert!(typed.schema().field(2).is_nullable());
    assert_eq!(arrow_schema(&group).field(2).data_type(), &DataType::Int64);
}

#[test]
fn incompatible_column_types_are_refused_naming_column_type_and_target() {
    let binary: ArrayRef = Arc::new(BinaryArray::from_vec(vec![b"ab"]));
    let structs: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("a", DataType::Int64, true)),
        ints(vec![Some(1)]),
    )]));
    let cases: Vec<(FeatureDefinition, ArrayRef, &str)> = vec![
        (FeatureDefinition::integral("x"), binary.clone(), "Integral"),
        (FeatureDefinition::fractional("x"), binary, "Fractional"),
        (
            FeatureDefinition::integral("x"),
            Arc::new(TimestampSecondArray::from(vec![0])),
            "Integral",
        ),
        (
            FeatureDefinition::integral("x"),
            Arc::new(Date32Array::from(vec![0])),
            "Integral",
        ),
        (FeatureDefinition::string("x"), structs, "String"),
        (
            FeatureDefinition::integral("x"),
            int_lists(vec![Some(vec![Some(1)])]),
            "Integral",
        ),
        (
            FeatureDefinition::integral("x").with_collection(Collection::List),
            ints(vec![Some(1)]),
            "List of Integral",
        ),
        (
            FeatureDefinition::fractional("x").with_collection(Collection::Vector { dimension: 1 }),
            floats(vec![Some(1.0)]),
            "Vector of Fractional",
        ),
    ];
    for (def, src, target) in cases {
        let dt = src.data_type().clone();
        let err = cast_x(def, src, &CastOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::IncompatibleColumn { column, data_type, target: t, .. } if column == "x" && *data_type == dt && t == target),
            "{dt}: {err:?}"
        );
        assert_mentions(&err, &["\"x\"", &dt.to_string(), target]);
    }
}

// ---------------------------------------------------------------- all failures, lenient mode, messages

fn mixed_batch() -> (FeatureGroup, RecordBatch) {
    let group = online_group([
        FeatureDefinition::integral("n"),
        FeatureDefinition::fractional("f"),
    ]);
    let batch = RecordBatch::try_from_iter([
        ("id", ids(5)),
        (
            "ts",
            strings(vec![
                Some(TS),
                Some(TS),
                Some(TS),
                Some("bad time"),
                Some(TS),
            ]),
        ),
        (
            "n",
            strings(vec![Some("1"), Some("one"), Some("3"), Some("four"), None]),
        ),
        (
            "f",
            strings(vec![
                Some("0.5"),
                Some("1.5"),
                Some("2.5"),
                Some("x"),
                Some("4.5"),
            ]),
        ),
    ])
    .unwrap();
    (group, batch)
}

#[test]
fn cast_batch_reports_one_failure_per_bad_row_in_row_order() {
    let (group, batch) = mixed_batch();
    let err = cast_batch(&batch, &group, &CastOptions::default()).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_failure(&failures[0], 1, "n", Some("one"), "is not an integer");
    // Row 3 is bad in three columns; its first bad column in definition order is reported.
    assert_failure(&failures[1], 3, "ts", Some("bad time"), "event time");
}

#[test]
fn cast_error_message_names_the_first_failures_row_column_and_value() {
    let (group, batch) = mixed_batch();
    let err = cast_batch(&batch, &group, &CastOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot cast row 1, column \"n\", value \"one\": is not an integer (and 1 more rows)"
    );
    let single = cast_x(
        FeatureDefinition::integral("x"),
        strings(vec![Some("7"), Some("seven")]),
        &CastOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        single.to_string(),
        "cannot cast row 1, column \"x\", value \"seven\": is not an integer"
    );
    let failure = CastFailure {
        row: 4,
        column: "c".into(),
        value: None,
        reason: "why".into(),
    };
    assert_eq!(failure.to_string(), "row 4, column \"c\", value null: why");
}

#[test]
fn lenient_cast_keeps_good_rows_in_order_and_reports_each_bad_row() {
    let (group, batch) = mixed_batch();
    let outcome = cast_batch_lenient(&batch, &group, &CastOptions::default()).unwrap();
    assert_eq!(
        outcome.batch.num_rows() + outcome.failures.len(),
        batch.num_rows()
    );
    assert_eq!(outcome.batch.schema(), arrow_schema(&group));
    assert_strings(
        outcome.batch.column(0),
        &[Some("r0"), Some("r2"), Some("r4")],
    );
    assert_eq!(
        outcome.batch.column(2).as_primitive::<Int64Type>(),
        &Int64Array::from(vec![Some(1), Some(3), None])
    );
    assert_eq!(
        outcome.batch.column(3).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![0.5, 2.5, 4.5])
    );
    let rows: Vec<(usize, &str)> = outcome
        .failures
        .iter()
        .map(|f| (f.row, f.column.as_str()))
        .collect();
    assert_eq!(rows, [(1, "n"), (3, "ts")]);
}

#[test]
fn lenient_cast_of_a_clean_batch_keeps_every_row() {
    let batch = x_batch(ints(vec![Some(1), Some(2), None]));
    let outcome = cast_batch_lenient(
        &batch,
        &online_group([FeatureDefinition::integral("x")]),
        &CastOptions::default(),
    )
    .unwrap();
    assert!(outcome.failures.is_empty());
    assert_eq!(outcome.batch.num_rows(), 3);
}

#[test]
fn lenient_cast_drops_bad_collection_rows() {
    let vector =
        FeatureDefinition::fractional("x").with_collection(Collection::Vector { dimension: 2 });
    let src = float_lists(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![Some(1.0)]),
        None,
        Some(vec![Some(3.0), Some(4.0)]),
    ]);
    let outcome =
        cast_batch_lenient(&x_batch(src), &group_for(vector), &CastOptions::default()).unwrap();
    assert_eq!(
        outcome.failures.iter().map(|f| f.row).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(outcome.batch.num_rows(), 3);
    let out = outcome.batch.column(2).as_fixed_size_list();
    assert_eq!(
        out.value(0).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![1.0, 2.0])
    );
    assert!(out.is_null(1));
    assert_eq!(
        out.value(2).as_primitive::<Float64Type>(),
        &Float64Array::from(vec![3.0, 4.0])
    );
}

#[test]
fn lenient_cast_still_refuses_incompatible_columns() {
    let binary: ArrayRef = Arc::new(BinaryArray::from_vec(vec![b"ab"]));
    let err = cast_batch_lenient(
        &x_batch(binary),
        &online_group([FeatureDefinition::integral("x")]),
        &CastOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::IncompatibleColumn { .. }), "{err:?}");
}

#[test]
fn cast_failures_serialize_with_their_fields() {
    let failure = CastFailure {
        row: 2,
        column: "x".into(),
        value: Some("v".into()),
        reason: "r".into(),
    };
    let json = serde_json::to_value(&failure).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"row": 2, "column": "x", "value": "v", "reason": "r"})
    );
    assert_eq!(
        serde_json::from_value::<CastFailure>(json).unwrap(),
        failure
    );
}
