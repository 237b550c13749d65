//! Every row of the Arrow-to-feature-type mapping, the refused types, and
//! the event-time typing of `infer_group`.

use std::sync::Arc;

use arrow_schema::{
    DataType, Field, Fields, IntervalUnit, Schema, TimeUnit, UnionFields, UnionMode,
};
use fs_schema::{
    Collection, Error, FeatureDefinition, FeatureType, OnlineStoreConfig, StorageType,
    infer_definition, infer_definitions, infer_group,
};

use crate::assert_mentions;

fn infer(dt: DataType) -> FeatureDefinition {
    infer_definition(&Field::new("c", dt.clone(), true)).unwrap_or_else(|e| panic!("{dt}: {e}"))
}

#[track_caller]
fn assert_scalar(dt: DataType, expected: FeatureType) {
    let def = infer(dt.clone());
    assert_eq!(def, FeatureDefinition::new("c", expected), "{dt}");
}

#[track_caller]
fn assert_collection(dt: DataType, expected: FeatureType, collection: Collection) {
    let def = infer(dt.clone());
    assert_eq!(
        def,
        FeatureDefinition::new("c", expected).with_collection(collection),
        "{dt}"
    );
}

fn item(dt: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", dt, true))
}

fn dict(key: DataType, value: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(value))
}

const UNITS: [TimeUnit; 4] = [
    TimeUnit::Second,
    TimeUnit::Millisecond,
    TimeUnit::Microsecond,
    TimeUnit::Nanosecond,
];

#[test]
fn signed_and_unsigned_integers_are_integral() {
    for dt in [
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::UInt8,
        DataType::UInt16,
        DataType::UInt32,
        DataType::UInt64,
    ] {
        assert_scalar(dt, FeatureType::Integral);
    }
}

#[test]
fn boolean_is_integral() {
    assert_scalar(DataType::Boolean, FeatureType::Integral);
}

#[test]
fn floats_are_fractional() {
    for dt in [DataType::Float16, DataType::Float32, DataType::Float64] {
        assert_scalar(dt, FeatureType::Fractional);
    }
}

#[test]
fn decimals_with_scale_0_and_precision_at_most_18_are_integral() {
    for dt in [
        DataType::Decimal32(9, 0),
        DataType::Decimal64(18, 0),
        DataType::Decimal128(1, 0),
        DataType::Decimal128(18, 0),
        DataType::Decimal256(18, 0),
    ] {
        assert_scalar(dt, FeatureType::Integral);
    }
}

#[test]
fn other_decimals_are_fractional() {
    for dt in [
        DataType::Decimal32(9, 2),
        DataType::Decimal64(18, 1),
        DataType::Decimal128(19, 0),
        DataType::Decimal128(38, 10),
        DataType::Decimal128(10, -2),
        DataType::Decimal256(19, 0),
        DataType::Decimal256(76, 0),
    ] {
        assert_scalar(dt, FeatureType::Fractional);
    }
}

#[test]
fn strings_are_string() {
    for dt in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
        assert_scalar(dt, FeatureType::String);
    }
}

#[test]
fn dictionaries_take_the_type_of_their_values() {
    assert_scalar(dict(DataType::Int32, DataType::Utf8), FeatureType::String);
    assert_scalar(
        dict(DataType::UInt8, DataType::LargeUtf8),
        FeatureType::String,
    );
    assert_scalar(
        dict(DataType::Int16, DataType::Utf8View),
        FeatureType::String,
    );
    assert_scalar(dict(DataType::Int8, DataType::Int64), FeatureType::Integral);
    assert_scalar(
        dict(DataType::Int32, DataType::UInt16),
        FeatureType::Integral,
    );
    assert_scalar(
        dict(DataType::Int32, DataType::Float32),
        FeatureType::Fractional,
    );
}

#[test]
fn dates_are_string() {
    assert_scalar(DataType::Date32, FeatureType::String);
    assert_scalar(DataType::Date64, FeatureType::String);
}

#[test]
fn timestamps_of_every_unit_with_or_without_zone_are_string() {
    for unit in UNITS {
        assert_scalar(DataType::Timestamp(unit, None), FeatureType::String);
        assert_scalar(
            DataType::Timestamp(unit, Some("UTC".into())),
            FeatureType::String,
        );
        assert_scalar(
            DataType::Timestamp(unit, Some("+02:00".into())),
            FeatureType::String,
        );
    }
}

#[test]
fn null_column_is_string() {
    assert_scalar(DataType::Null, FeatureType::String);
}

#[test]
fn list_types_are_list_collections_of_their_element_type() {
    let cases = [
        (DataType::Int64, FeatureType::Integral),
        (DataType::Float32, FeatureType::Fractional),
        (DataType::Utf8, FeatureType::String),
        (DataType::Boolean, FeatureType::Integral),
        (dict(DataType::Int32, DataType::Utf8), FeatureType::String),
    ];
    for (element, expected) in cases {
        for dt in [
            DataType::List(item(element.clone())),
            DataType::LargeList(item(element.clone())),
            DataType::ListView(item(element.clone())),
            DataType::LargeListView(item(element.clone())),
        ] {
            assert_collection(dt, expected, Collection::List);
        }
    }
}

#[test]
fn fixed_size_lists_of_floats_are_vectors_of_their_size() {
    for element in [DataType::Float16, DataType::Float32, DataType::Float64] {
        assert_collection(
            DataType::FixedSizeList(item(element), 384),
            FeatureType::Fractional,
            Collection::Vector { dimension: 384 },
        );
    }
    assert_collection(
        DataType::FixedSizeList(item(DataType::Float64), 1),
        FeatureType::Fractional,
        Collection::Vector { dimension: 1 },
    );
}

#[test]
fn fixed_size_lists_of_other_types_are_lists() {
    assert_collection(
        DataType::FixedSizeList(item(DataType::Utf8), 3),
        FeatureType::String,
        Collection::List,
    );
    assert_collection(
        DataType::FixedSizeList(item(DataType::Int32), 3),
        FeatureType::Integral,
        Collection::List,
    );
}

#[test]
fn vector_dimension_above_8192_is_refused_naming_the_column() {
    let err = infer_definition(&Field::new(
        "emb",
        DataType::FixedSizeList(item(DataType::Float32), 8193),
        true,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "emb"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"emb\"", "8193"]);
    infer_definition(&Field::new(
        "emb",
        DataType::FixedSizeList(item(DataType::Float32), 8192),
        true,
    ))
    .unwrap();
}

#[test]
fn nullable_columns_keep_their_type() {
    for nullable in [true, false] {
        let def = infer_definition(&Field::new("n", DataType::Int64, nullable)).unwrap();
        assert_eq!(
            def.feature_type,
            FeatureType::Integral,
            "nullable={nullable}"
        );
        let def = infer_definition(&Field::new("x", DataType::Float64, nullable)).unwrap();
        assert_eq!(
            def.feature_type,
            FeatureType::Fractional,
            "nullable={nullable}"
        );
        let def = infer_definition(&Field::new(
            "l",
            DataType::List(item(DataType::Int64)),
            nullable,
        ))
        .unwrap();
        assert_eq!(
            def.feature_type,
            FeatureType::Integral,
            "nullable={nullable}"
        );
    }
}

#[test]
fn unsupported_types_are_refused_naming_the_column_and_a_remedy() {
    let struct_type = DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int64, true)]));
    let map_type = DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Int64, true),
            ])),
            false,
        )),
        false,
    );
    let cases = [
        (DataType::Binary, "base64"),
        (DataType::LargeBinary, "base64"),
        (DataType::BinaryView, "base64"),
        (DataType::FixedSizeBinary(16), "base64"),
        (DataType::Time32(TimeUnit::Second), "times of day"),
        (DataType::Time32(TimeUnit::Millisecond), "times of day"),
        (DataType::Time64(TimeUnit::Microsecond), "times of day"),
        (DataType::Time64(TimeUnit::Nanosecond), "times of day"),
        (DataType::Duration(TimeUnit::Second), "integer count"),
        (DataType::Duration(TimeUnit::Nanosecond), "integer count"),
        (DataType::Interval(IntervalUnit::YearMonth), "integer count"),
        (
            DataType::Interval(IntervalUnit::MonthDayNano),
            "integer count",
        ),
        (struct_type.clone(), "flatten"),
        (map_type, "flatten"),
        (
            DataType::Union(UnionFields::empty(), UnionMode::Sparse),
            "flatten",
        ),
        (
            dict(DataType::Int32, DataType::Binary),
            "integer, float or string",
        ),
        (
            DataType::List(item(DataType::Binary)),
            "integer, float or string",
        ),
        (
            DataType::List(item(DataType::List(item(DataType::Int64)))),
            "integer, float or string",
        ),
        (
            DataType::List(item(struct_type)),
            "integer, float or string",
        ),
        (
            DataType::FixedSizeList(item(DataType::Duration(TimeUnit::Second)), 2),
            "integer, float or string",
        ),
    ];
    for (dt, hint) in cases {
        let err = infer_definition(&Field::new("blob_col", dt.clone(), true)).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedArrowType { column, data_type, .. } if column == "blob_col" && *data_type == dt),
            "{dt}: {err:?}"
        );
        assert_mentions(&err, &["\"blob_col\"", hint]);
    }
}

#[test]
fn column_names_must_be_valid_feature_names() {
    let err = infer_definition(&Field::new("unit price", DataType::Float64, true)).unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
    assert_mentions(&err, &["\"unit price\""]);
    let err = infer_definition(&Field::new("write_time", DataType::Utf8, true)).unwrap_err();
    assert!(matches!(err, Error::ReservedName { .. }), "{err:?}");
}

#[test]
fn infer_definitions_keeps_schema_order_and_stops_at_the_first_unsupported_column() {
    let schema = Schema::new(vec![
        Field::new("b", DataType::Utf8, false),
        Field::new("a", DataType::Int32, true),
        Field::new("c", DataType::List(item(DataType::Float64)), true),
    ]);
    assert_eq!(
        infer_definitions(&schema).unwrap(),
        vec![
            FeatureDefinition::string("b"),
            FeatureDefinition::integral("a"),
            FeatureDefinition::fractional("c").with_collection(Collection::List),
        ]
    );
    let bad = Schema::new(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("raw", DataType::Binary, true),
    ]);
    let err = infer_definitions(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedArrowType { column, .. } if column == "raw"),
        "{err:?}"
    );
}

fn event_time_type(ts: DataType) -> FeatureType {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("ts", ts.clone(), true),
    ]);
    let group = infer_group("g", "id", "ts", &schema)
        .unwrap()
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_or_else(|e| panic!("{ts}: {e}"));
    assert_eq!(
        group.record_identifier(),
        &FeatureDefinition::integral("id")
    );
    group.event_time().feature_type
}

#[test]
fn infer_group_types_a_numeric_event_time_as_fractional_seconds() {
    for dt in [
        DataType::Int32,
        DataType::Int64,
        DataType::UInt64,
        DataType::Float32,
        DataType::Float64,
        DataType::Decimal128(20, 3),
        dict(DataType::Int32, DataType::Int64),
    ] {
        assert_eq!(event_time_type(dt.clone()), FeatureType::Fractional, "{dt}");
    }
}

#[test]
fn infer_group_types_a_text_or_temporal_event_time_as_string() {
    let mut types = vec![
        DataType::Utf8,
        DataType::LargeUtf8,
        DataType::Utf8View,
        dict(DataType::Int32, DataType::Utf8),
        DataType::Date32,
        DataType::Date64,
    ];
    for unit in UNITS {
        types.push(DataType::Timestamp(unit, None));
        types.push(DataType::Timestamp(unit, Some("UTC".into())));
    }
    for dt in types {
        assert_eq!(event_time_type(dt.clone()), FeatureType::String, "{dt}");
    }
}

#[test]
fn infer_group_retypes_only_the_event_time() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("n", DataType::Int64, true),
        Field::new(
            "when",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ]);
    let group = infer_group("g", "id", "ts", &schema)
        .unwrap()
        .offline_store_s3_uri("s3://bucket")
        .build()
        .unwrap();
    assert_eq!(
        group.feature_definitions,
        vec![
            FeatureDefinition::string("id"),
            FeatureDefinition::fractional("ts"),
            FeatureDefinition::integral("n"),
            FeatureDefinition::string("when"),
        ]
    );
}

#[test]
fn infer_group_leaves_the_checks_to_build() {
    // A list event time stays a collection, which `build` refuses.
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ts", DataType::List(item(DataType::Utf8)), true),
    ]);
    let err = infer_group("g", "id", "ts", &schema)
        .unwrap()
        .online_store(OnlineStoreConfig::enabled().with_storage_type(StorageType::InMemory))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidFeatureRole {
                role: "event time",
                ..
            }
        ),
        "{err:?}"
    );
    // An event-time column missing from the schema is named.
    let schema = Schema::new(vec![Field::new("id", DataType::Utf8, false)]);
    let err = infer_group("g", "id", "ts", &schema)
        .unwrap()
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingFeature { role: "event time", feature } if feature == "ts"),
        "{err:?}"
    );
    // An unsupported column fails inference itself.
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ts", DataType::Utf8, false),
        Field::new("elapsed", DataType::Duration(TimeUnit::Millisecond), true),
    ]);
    let err = infer_group("g", "id", "ts", &schema).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedArrowType { column, .. } if column == "elapsed"),
        "{err:?}"
    );
}
