//! Records: conversion to and from Arrow batches, their errors, and their
//! JSON shape.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ListArray, RecordBatch};
use arrow_schema::{DataType, Field};
use fs_schema::{
    Collection, Error, EventTime, FeatureDefinition, FeatureGroup, FeatureValue, OnlineStoreConfig,
    Record, Value, arrow_schema, batch_to_records, records_to_batch,
};
use serde_json::json;

use crate::{assert_mentions, in_memory_group, online_group};

const TS: &str = "2024-01-01T00:00:00Z";

fn scalar_group() -> FeatureGroup {
    online_group([
        FeatureDefinition::integral("n"),
        FeatureDefinition::fractional("x"),
        FeatureDefinition::string("s"),
    ])
}

fn collection_group() -> FeatureGroup {
    in_memory_group([
        FeatureDefinition::integral("counts").with_collection(Collection::List),
        FeatureDefinition::string("labels").with_collection(Collection::Set),
        FeatureDefinition::fractional("emb").with_collection(Collection::Vector { dimension: 3 }),
    ])
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn scalar_records_round_trip_through_a_typed_batch() {
    let group = scalar_group();
    let records = vec![
        Record::new()
            .with("id", "a")
            .with("ts", TS)
            .with("n", "-42")
            .with("x", "0.125")
            .with("s", "caf\u{e9}"),
        Record::new()
            .with("id", "b")
            .with("ts", "2024-01-01T00:00:00.123Z")
            .with("n", "9223372036854775807"),
        Record::new()
            .with("id", "c")
            .with("ts", TS)
            .with("x", "1.5")
            .with("s", ""),
    ];
    let batch = records_to_batch(&group, &records).unwrap();
    assert_eq!(batch.schema(), arrow_schema(&group));
    assert_eq!(batch.num_rows(), 3);
    let n = batch.column(2).as_primitive::<Int64Type>();
    assert_eq!(
        (n.value(0), n.value(1), n.is_null(2)),
        (-42, i64::MAX, true)
    );
    let x = batch.column(3).as_primitive::<Float64Type>();
    assert_eq!((x.value(0), x.is_null(1), x.value(2)), (0.125, true, 1.5));
    assert_eq!(batch_to_records(&batch).unwrap(), records);
}

#[test]
fn batch_to_records_writes_numbers_as_text_that_reads_back_and_leaves_nulls_out() {
    let group = scalar_group();
    let records = vec![
        Record::new()
            .with("id", "a")
            .with("ts", TS)
            .with("n", "007")
            .with("x", "2"),
    ];
    let back = batch_to_records(&records_to_batch(&group, &records).unwrap()).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].get_str("n"), Some("7"));
    let x = back[0].get_str("x").unwrap();
    assert_eq!(x.parse::<f64>().unwrap(), 2.0);
    for text in ["1e-7", "0.1", "123456789.123456789", "-2.5e300"] {
        let r = vec![Record::new().with("id", "a").with("ts", TS).with("x", text)];
        let back = batch_to_records(&records_to_batch(&group, &r).unwrap()).unwrap();
        let written = back[0].get_str("x").unwrap();
        assert_eq!(
            written.parse::<f64>().unwrap(),
            text.parse::<f64>().unwrap(),
            "{text} -> {written}"
        );
    }
    assert_eq!(back[0].get("s"), None);
    assert_eq!(back[0].len(), 4);
}

#[test]
fn collection_records_round_trip_on_an_in_memory_group() {
    let group = collection_group();
    let records = vec![
        Record::new()
            .with("id", "a")
            .with("ts", TS)
            .with("counts", list(&["1", "1", "-3"]))
            .with("labels", list(&["red", "blue"]))
            .with("emb", list(&["0.5", "-1.5", "2.25"])),
        Record::new()
            .with("id", "b")
            .with("ts", TS)
            .with("counts", list(&[])),
        Record::new()
            .with("id", "c")
            .with("ts", TS)
            .with("labels", list(&["only"])),
    ];
    let batch = records_to_batch(&group, &records).unwrap();
    assert_eq!(batch.schema(), arrow_schema(&group));
    let counts = batch.column(2).as_list::<i32>();
    assert_eq!(
        counts
            .value(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec(),
        [1, 1, -3]
    );
    assert_eq!(counts.value(1).len(), 0);
    assert!(counts.is_null(2));
    let emb = batch.column(4).as_fixed_size_list();
    assert_eq!(
        emb.value(0).as_primitive::<Float64Type>().values().to_vec(),
        [0.5, -1.5, 2.25]
    );
    assert!(emb.is_null(1) && emb.is_null(2));
    assert_eq!(batch_to_records(&batch).unwrap(), records);
}

#[test]
fn batch_to_records_writes_every_list_type_as_a_string_list() {
    let lists =
        ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None]);
    let item = Arc::new(Field::new("item", DataType::Int64, true));
    for dt in [
        DataType::List(item.clone()),
        DataType::LargeList(item.clone()),
        DataType::ListView(item.clone()),
        DataType::LargeListView(item.clone()),
        DataType::FixedSizeList(item.clone(), 2),
    ] {
        let column = arrow_cast::cast(&lists, &dt).unwrap();
        let batch = RecordBatch::try_from_iter([("l", column)]).unwrap();
        let records = batch_to_records(&batch).unwrap();
        assert_eq!(
            records,
            [Record::new().with("l", list(&["1", "2"])), Record::new()],
            "{dt}"
        );
    }
}

#[test]
fn records_to_batch_refuses_an_undefined_feature() {
    let records = vec![
        Record::new()
            .with("id", "a")
            .with("ts", TS)
            .with("colour", "red"),
    ];
    let err = records_to_batch(&scalar_group(), &records).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownFeature { group, feature } if group == "g" && feature == "colour"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"colour\""]);
}

#[test]
fn records_to_batch_refuses_a_list_for_a_scalar_feature_naming_record_and_feature() {
    let records = vec![
        Record::new().with("id", "a").with("ts", TS),
        Record::new()
            .with("id", "b")
            .with("ts", TS)
            .with("n", list(&["1"])),
    ];
    let err = records_to_batch(&scalar_group(), &records).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].row, failures[0].column.as_str()), (1, "n"));
    assert!(
        failures[0]
            .reason
            .contains("scalar feature needs a text value"),
        "{}",
        failures[0]
    );
    assert_eq!(failures[0].value.as_deref(), Some("[\"1\"]"));
    assert_mentions(&err, &["row 1", "column \"n\""]);
}

#[test]
fn records_to_batch_refuses_text_for_a_collection_feature_naming_record_and_feature() {
    let records = vec![
        Record::new()
            .with("id", "a")
            .with("ts", TS)
            .with("labels", "red"),
    ];
    let err = records_to_batch(&collection_group(), &records).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (failures[0].row, failures[0].column.as_str()),
        (0, "labels")
    );
    assert_eq!(failures[0].value.as_deref(), Some("red"));
    assert!(
        failures[0]
            .reason
            .contains("collection feature needs a list value"),
        "{}",
        failures[0]
    );
}

#[test]
fn records_to_batch_parse_errors_name_the_record_feature_and_value() {
    let records = vec![
        Record::new().with("id", "a").with("ts", TS).with("n", "1"),
        Record::new()
            .with("id", "b")
            .with("ts", TS)
            .with("x", "zero point five"),
        Record::new()
            .with("id", "c")
            .with("ts", "Jan 1st")
            .with("n", "2"),
        Record::new()
            .with("id", "d")
            .with("ts", TS)
            .with("n", "3.5"),
    ];
    let err = records_to_batch(&scalar_group(), &records).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    let got: Vec<(usize, &str, Option<&str>)> = failures
        .iter()
        .map(|f| (f.row, f.column.as_str(), f.value.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "x", Some("zero point five")),
            (2, "ts", Some("Jan 1st")),
            (3, "n", Some("3.5"))
        ]
    );
    assert_mentions(
        &err,
        &[
            "row 1",
            "column \"x\"",
            "\"zero point five\"",
            "and 2 more rows",
        ],
    );
}

#[test]
fn records_to_batch_refuses_records_without_identifier_or_event_time() {
    let records = vec![
        Record::new().with("id", "a").with("ts", TS),
        Record::new().with("ts", TS),
    ];
    let err = records_to_batch(&scalar_group(), &records).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (
            failures[0].row,
            failures[0].column.as_str(),
            failures[0].value.as_deref()
        ),
        (1, "id", None)
    );
    let records = vec![Record::new().with("id", "a")];
    let err = records_to_batch(&scalar_group(), &records).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((failures[0].row, failures[0].column.as_str()), (0, "ts"));
}

#[test]
fn records_to_batch_checks_collection_shapes() {
    let records = vec![
        Record::new()
            .with("id", "a")
            .with("ts", TS)
            .with("labels", list(&["x", "x"])),
        Record::new()
            .with("id", "b")
            .with("ts", TS)
            .with("emb", list(&["1", "2"])),
        Record::new()
            .with("id", "c")
            .with("ts", TS)
            .with("counts", list(&["1", "two"])),
    ];
    let err = records_to_batch(&collection_group(), &records).unwrap_err();
    let Error::Cast { failures } = &err else {
        panic!("{err:?}")
    };
    let got: Vec<(usize, &str)> = failures
        .iter()
        .map(|f| (f.row, f.column.as_str()))
        .collect();
    assert_eq!(got, [(0, "labels"), (1, "emb"), (2, "counts")]);
    assert!(
        failures[0].reason.contains("repeats \"x\""),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].reason.contains("dimension 3"),
        "{}",
        failures[1]
    );
    assert!(
        failures[2].reason.contains("element 1 is not an integer"),
        "{}",
        failures[2]
    );
}

#[test]
fn empty_record_list_makes_an_empty_batch() {
    let group = scalar_group();
    let batch = records_to_batch(&group, &[]).unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.schema(), arrow_schema(&group));
    assert!(batch_to_records(&batch).unwrap().is_empty());
}

#[test]
fn record_accessors_find_values_by_name() {
    let group = FeatureGroup::builder("g", "id", "ts")
        .features([
            FeatureDefinition::integral("id"),
            FeatureDefinition::fractional("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap();
    let r = Record::new()
        .with("id", "7")
        .with("ts", "1700000000.5")
        .with("tags", list(&["a"]));
    assert_eq!(r.len(), 3);
    assert!(!r.is_empty() && Record::new().is_empty());
    assert_eq!(r.record_identifier(&group), Some("7"));
    assert_eq!(
        r.event_time(&group).unwrap(),
        EventTime::from_millis(1_700_000_000_500).unwrap()
    );
    assert_eq!(r.get_str("tags"), None);
    assert_eq!(r.get("tags"), Some(&list(&["a"])));
    assert_eq!(r.size_bytes(), 1 + 12 + 1);
    assert_eq!(r.values()[0].feature_name, "id");
    assert_eq!(Record::from_values(r.clone().into_values()), r);
    let err = Record::new()
        .with("id", "7")
        .event_time(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "ts"),
        "{err:?}"
    );
}

#[test]
fn record_serializes_as_the_apis_feature_value_list() {
    let r = Record::new()
        .with("id", "42")
        .with("tags", list(&["a", "b"]));
    let value = serde_json::to_value(&r).unwrap();
    assert_eq!(
        value,
        json!([
            {"FeatureName": "id", "ValueAsString": "42"},
            {"FeatureName": "tags", "ValueAsStringList": ["a", "b"]}
        ])
    );
    assert_eq!(serde_json::from_value::<Record>(value).unwrap(), r);
    let fv: FeatureValue =
        serde_json::from_value(json!({"FeatureName": "x", "ValueAsString": ""})).unwrap();
    assert_eq!(
        fv,
        FeatureValue {
            feature_name: "x".into(),
            value: Value::String(String::new())
        }
    );
}

#[test]
fn feature_value_needs_exactly_one_of_string_and_string_list() {
    for v in [
        json!({"FeatureName": "x", "ValueAsString": "1", "ValueAsStringList": ["1"]}),
        json!({"FeatureName": "x"}),
    ] {
        let err = serde_json::from_value::<FeatureValue>(v.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"x\"")
                && err.contains("exactly one of ValueAsString and ValueAsStringList"),
            "{v}: {err}"
        );
    }
    let err = serde_json::from_value::<FeatureValue>(json!({"FeatureName": "x", "Value": "1"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Value"), "{err}");
    let err = serde_json::from_value::<Record>(json!([{"FeatureName": "x"}]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one"), "{err}");
}
