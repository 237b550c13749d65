use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{Array, StringArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use aws_sdk_athena::types::{ColumnInfo, Datum, Row};

use super::*;

fn col(name: &str, ty: &str) -> ColumnInfo {
    ColumnInfo::builder()
        .name(name)
        .r#type(ty)
        .build()
        .expect("name and type are set")
}

fn decimal_col(name: &str, precision: i32, scale: i32) -> ColumnInfo {
    ColumnInfo::builder()
        .name(name)
        .r#type("decimal")
        .precision(precision)
        .scale(scale)
        .build()
        .expect("name and type are set")
}

fn row(values: &[Option<&str>]) -> Row {
    let mut b = Row::builder();
    for v in values {
        let mut d = Datum::builder();
        if let Some(s) = v {
            d = d.var_char_value(*s);
        }
        b = b.data(d.build());
    }
    b.build()
}

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

#[test]
fn athena_types_map_to_arrow_types() {
    let cases = [
        ("varchar", DataType::Utf8),
        ("bigint", DataType::Int64),
        ("integer", DataType::Int32),
        ("smallint", DataType::Int16),
        ("tinyint", DataType::Int8),
        ("double", DataType::Float64),
        ("real", DataType::Float32),
        ("boolean", DataType::Boolean),
        ("date", DataType::Date32),
        (
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
        ),
        (
            "timestamp(6)",
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        ("timestamp with time zone", utc_ms()),
        ("array(bigint)", DataType::Utf8),
        ("json", DataType::Utf8),
    ];
    for (athena, arrow) in cases {
        assert_eq!(arrow_type(&col("c", athena)), arrow, "{athena}");
    }
    assert_eq!(
        arrow_type(&decimal_col("d", 10, 2)),
        DataType::Decimal128(10, 2)
    );
}

#[test]
fn a_page_becomes_a_typed_batch_with_nulls_where_values_are_absent() {
    let columns = [
        col("id", "varchar"),
        col("n", "bigint"),
        col("x", "double"),
        col("ok", "boolean"),
        col("write_time", "timestamp"),
        col("day", "date"),
        col("price", "decimal"),
    ];
    let columns = {
        let mut c = columns.to_vec();
        c[6] = decimal_col("price", 10, 2);
        c
    };
    let rows = [
        row(&[
            Some("a"),
            Some("42"),
            Some("1.5"),
            Some("true"),
            Some("2024-01-31 12:00:00.123"),
            Some("2024-01-31"),
            Some("12.34"),
        ]),
        row(&[
            Some(""),
            None,
            Some("1.0E10"),
            Some("false"),
            None,
            None,
            None,
        ]),
        row(&[
            None,
            Some("-9223372036854775808"),
            Some("NaN"),
            None,
            Some("1969-12-31 23:59:59.999"),
            Some("1970-01-01"),
            Some("-0.5"),
        ]),
    ];
    let schema = derived_schema(&columns);
    let batch = page_to_batch("q-1", &columns, &rows, 0, &schema).expect("converts");
    assert_eq!(batch.num_rows(), 3);
    let id = batch.column(0).as_string::<i32>();
    assert_eq!((id.value(0), id.value(1), id.is_null(2)), ("a", "", true));
    let n = batch.column(1).as_primitive::<Int64Type>();
    assert_eq!((n.value(0), n.is_null(1), n.value(2)), (42, true, i64::MIN));
    let x = batch.column(2).as_primitive::<Float64Type>();
    assert_eq!((x.value(0), x.value(1)), (1.5, 1.0e10));
    assert!(x.value(2).is_nan());
    let ok = batch.column(3).as_boolean();
    assert_eq!(
        (ok.value(0), ok.value(1), ok.is_null(2)),
        (true, false, true)
    );
    let wt = batch.column(4).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        (wt.value(0), wt.is_null(1), wt.value(2)),
        (1_706_702_400_123, true, -1)
    );
    let day = batch.column(5).as_primitive::<Date32Type>();
    assert_eq!((day.value(0), day.value(2)), (19_753, 0));
    let price = batch.column(6).as_primitive::<Decimal128Type>();
    assert_eq!(
        (price.value(0), price.is_null(1), price.value(2)),
        (1234, true, -50)
    );
}

#[test]
fn a_given_schema_is_matched_by_position_ignoring_case_and_decides_the_types() {
    // Athena folds names to lower case and returns the SageMaker event time
    // (a String feature) as varchar; the caller's schema keeps its names.
    let columns = [
        col("customerid", "varchar"),
        col("amount", "bigint"),
        col("write_time", "timestamp"),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("CustomerId", DataType::Utf8, false),
        Field::new("Amount", DataType::Float64, true),
        Field::new("write_time", utc_ms(), true),
    ]));
    let rows = [row(&[
        Some("c1"),
        Some("7"),
        Some("2024-01-31 12:00:00.000 UTC"),
    ])];
    let batch = page_to_batch("q-2", &columns, &rows, 0, &schema).expect("converts");
    assert_eq!(batch.schema(), schema);
    assert_eq!(batch.column(1).as_primitive::<Float64Type>().value(0), 7.0);
    assert_eq!(
        batch
            .column(2)
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_706_702_400_000
    );
}

#[test]
fn timestamps_in_every_form_athena_prints_read_as_the_same_instant() {
    let expected = 1_706_702_400_123_i64;
    for text in [
        "2024-01-31 12:00:00.123",
        "2024-01-31 12:00:00.123 UTC",
        "2024-01-31T12:00:00.123Z",
        "2024-01-31 13:00:00.123+01:00",
        "2024-01-31 12:00:00.123456",
    ] {
        let (secs, nanos) = timestamp(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            secs * 1000 + i64::from(nanos / 1_000_000),
            expected,
            "{text}"
        );
    }
    assert_eq!(
        timestamp("2024-01-31").expect("a date is midnight"),
        (1_706_659_200, 0)
    );
    assert!(timestamp("yesterday").is_err());
}

#[test]
fn a_bad_value_names_query_row_column_type_and_text() {
    let columns = [col("id", "varchar"), col("n", "bigint")];
    let schema = derived_schema(&columns);
    let rows = [row(&[Some("a"), Some("1")]), row(&[Some("b"), Some("1.5")])];
    let err = page_to_batch("q-3", &columns, &rows, 1000, &schema).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, AthenaError::Value(v) if v.row == 1001),
        "{msg}"
    );
    for part in [
        "q-3",
        "row 1001",
        "`n`",
        "bigint",
        "\"1.5\"",
        "not an integer",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
    // Out of range for a narrower field.
    let narrow_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("n", DataType::Int32, true),
    ]));
    let big = [row(&[Some("a"), Some("3000000000")])];
    let msg = page_to_batch("q-3", &columns, &big, 0, &narrow_schema)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("out of range"), "{msg}");
    let ints = [row(&[Some("a"), Some("-5")])];
    let batch = page_to_batch("q-3", &columns, &ints, 0, &narrow_schema).expect("fits in i32");
    assert_eq!(batch.column(1).as_primitive::<Int32Type>().value(0), -5);
}

#[test]
fn columns_that_are_not_the_schema_are_refused() {
    let columns = [col("a", "varchar"), col("b", "bigint")];
    let wrong_name = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("c", DataType::Int64, true),
    ]));
    let msg = page_to_batch("q-4", &columns, &[], 0, &wrong_name)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("column 1 is `b`") && msg.contains("`c`"),
        "{msg}"
    );
    let too_few = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
    let msg = page_to_batch("q-4", &columns, &[], 0, &too_few)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("2 columns") && msg.contains("schema 1"),
        "{msg}"
    );
    // A ragged row.
    let schema = derived_schema(&columns);
    let msg = page_to_batch("q-4", &columns, &[row(&[Some("x")])], 5, &schema)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("row 5 has 1 values for 2 columns"), "{msg}");
    // A null in a non-nullable field.
    let required = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, false),
        Field::new("b", DataType::Int64, true),
    ]));
    let msg = page_to_batch("q-4", &columns, &[row(&[None, Some("1")])], 0, &required)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("do not fit"), "{msg}");
}

#[test]
fn an_empty_page_is_an_empty_batch_of_the_schema() {
    let columns = [col("a", "varchar"), col("b", "double")];
    let schema = derived_schema(&columns);
    let batch = page_to_batch("q-5", &columns, &[], 0, &schema).expect("empty is fine");
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.schema(), schema);
    let strings: &StringArray = batch.column(0).as_string();
    assert_eq!(strings.len(), 0);
}
