//! One failing and one passing case for every validation rule: names,
//! definitions, groups, stores, TTL, tags, description, role ARN, records and
//! event times.

use fs_schema::limits::{
    MAX_DESCRIPTION_LEN, MAX_FEATURES, MAX_NAME_LEN, MAX_RECORD_BYTES, MAX_RECORD_IDENTIFIER_BYTES,
    MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN, MAX_TAGS, MAX_VALUE_BYTES, MAX_VECTOR_DIMENSION,
};
use fs_schema::{
    Collection, DataCatalogConfig, Error, EventTime, FeatureDefinition, FeatureGroup, FeatureType,
    NameKind, OfflineStoreConfig, OnlineStoreConfig, Record, StorageType, TableFormat, TtlDuration,
    TtlUnit, Value, is_reserved, validate_name,
};

use crate::{assert_mentions, builder, in_memory_group, online_group};

fn in_memory() -> OnlineStoreConfig {
    OnlineStoreConfig::enabled().with_storage_type(StorageType::InMemory)
}

fn vector(name: &str, dimension: u32) -> FeatureDefinition {
    FeatureDefinition::fractional(name).with_collection(Collection::Vector { dimension })
}

fn offline_group(config: OfflineStoreConfig) -> fs_schema::Result<FeatureGroup> {
    builder([]).offline_store(config).build()
}

// ---------------------------------------------------------------- names

#[test]
fn name_of_64_characters_is_accepted_and_65_refused() {
    let ok = "a".repeat(MAX_NAME_LEN);
    validate_name(NameKind::Feature, &ok).unwrap();
    validate_name(NameKind::FeatureGroup, &ok).unwrap();
    let long = "a".repeat(MAX_NAME_LEN + 1);
    for kind in [NameKind::Feature, NameKind::FeatureGroup] {
        let err = validate_name(kind, &long).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidName { name, .. } if *name == long),
            "{err:?}"
        );
        assert_mentions(&err, &["64 characters", &long]);
    }
}

#[test]
fn empty_name_is_refused() {
    let err = validate_name(NameKind::FeatureGroup, "").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidName {
                kind: NameKind::FeatureGroup,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["feature group name", "empty"]);
    validate_name(NameKind::FeatureGroup, "x").unwrap();
}

#[test]
fn name_with_a_character_outside_letters_digits_dash_underscore_is_refused() {
    for (name, shown) in [
        ("a b", "' '"),
        ("a.b", "'.'"),
        ("caf\u{e9}", "'\u{e9}'"),
        ("a/b", "'/'"),
    ] {
        let err = validate_name(NameKind::Feature, name).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::InvalidName {
                    kind: NameKind::Feature,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_mentions(&err, &["feature name", name, shown]);
    }
    validate_name(NameKind::Feature, "a-b_C9").unwrap();
}

#[test]
fn name_must_start_with_a_letter_or_digit() {
    for name in ["-a", "_a"] {
        let err = validate_name(NameKind::Feature, name).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
        assert_mentions(&err, &[name, "start with a letter or digit"]);
    }
    validate_name(NameKind::Feature, "9a").unwrap();
}

#[test]
fn name_must_end_with_a_letter_or_digit() {
    for name in ["a-", "a_"] {
        let err = validate_name(NameKind::FeatureGroup, name).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
        assert_mentions(&err, &[name, "end with a letter or digit"]);
    }
    validate_name(NameKind::FeatureGroup, "a--__-1").unwrap();
}

#[test]
fn reserved_feature_names_are_refused_ignoring_case_but_allowed_as_group_names() {
    for name in [
        "is_deleted",
        "write_time",
        "api_invocation_time",
        "WRITE_TIME",
        "Is_Deleted",
    ] {
        assert!(is_reserved(name), "{name}");
        let err = validate_name(NameKind::Feature, name).unwrap_err();
        assert!(
            matches!(&err, Error::ReservedName { name: n } if n == name),
            "{err:?}"
        );
        assert_mentions(&err, &[name, "reserved"]);
        validate_name(NameKind::FeatureGroup, name).unwrap();
    }
    assert!(!is_reserved("write_times"));
    validate_name(NameKind::Feature, "write_times").unwrap();
}

#[test]
fn group_validate_refuses_an_invalid_group_name() {
    let err = FeatureGroup::builder("bad name", "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidName { kind: NameKind::FeatureGroup, name, .. } if name == "bad name")
    );
    assert_mentions(&err, &["\"bad name\""]);
}

#[test]
fn group_validate_refuses_an_invalid_or_reserved_feature_name() {
    let err = builder([FeatureDefinition::integral("9 lives")])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidName {
                kind: NameKind::Feature,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["9 lives"]);
    let err = builder([FeatureDefinition::integral("api_invocation_time")])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::ReservedName { .. }), "{err:?}");
    assert_mentions(&err, &["api_invocation_time"]);
    online_group([FeatureDefinition::integral("nine_lives")]);
}

// ---------------------------------------------------------------- definitions

#[test]
fn vector_feature_must_be_fractional() {
    for t in [FeatureType::Integral, FeatureType::String] {
        let def =
            FeatureDefinition::new("emb", t).with_collection(Collection::Vector { dimension: 4 });
        let err = def.validate().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "emb"),
            "{err:?}"
        );
        assert_mentions(&err, &["emb", "Fractional", &t.to_string()]);
    }
    vector("emb", 4).validate().unwrap();
    let err = builder([
        FeatureDefinition::integral("emb").with_collection(Collection::Vector { dimension: 4 })
    ])
    .online_store(in_memory())
    .build()
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "emb"),
        "{err:?}"
    );
}

#[test]
fn vector_dimension_must_be_from_1_to_8192() {
    for dimension in [0, MAX_VECTOR_DIMENSION + 1] {
        let err = vector("emb", dimension).validate().unwrap_err();
        assert!(matches!(err, Error::InvalidDefinition { .. }), "{err:?}");
        assert_mentions(&err, &["emb", &dimension.to_string(), "8192"]);
    }
    vector("emb", 1).validate().unwrap();
    vector("emb", MAX_VECTOR_DIMENSION).validate().unwrap();
}

#[test]
fn definition_validate_refuses_a_bad_feature_name() {
    let err = FeatureDefinition::string("write_time")
        .validate()
        .unwrap_err();
    assert!(matches!(err, Error::ReservedName { .. }), "{err:?}");
    let err = FeatureDefinition::string("").validate().unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
    for def in [
        FeatureDefinition::integral("l").with_collection(Collection::List),
        FeatureDefinition::string("s").with_collection(Collection::Set),
        FeatureDefinition::fractional("f"),
    ] {
        def.validate().unwrap();
    }
}

// ---------------------------------------------------------------- feature count and duplicates

fn group_with_feature_count(count: usize) -> fs_schema::Result<FeatureGroup> {
    builder((2..count).map(|i| FeatureDefinition::integral(format!("f{i}"))))
        .online_store(OnlineStoreConfig::enabled())
        .build()
}

#[test]
fn group_holds_2500_features_but_not_2501() {
    let group = group_with_feature_count(MAX_FEATURES).unwrap();
    assert_eq!(group.feature_definitions.len(), 2_500);
    let err = group_with_feature_count(MAX_FEATURES + 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyFeatures {
                count: 2_501,
                max: 2_500
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["2501", "2500"]);
}

#[test]
fn group_without_feature_definitions_is_refused() {
    let err = FeatureGroup::builder("g", "id", "ts")
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "FeatureDefinitions"),
        "{err:?}"
    );
    assert_mentions(&err, &["FeatureDefinitions", "at least one"]);
}

#[test]
fn duplicate_feature_name_is_refused() {
    let err = builder([
        FeatureDefinition::integral("age"),
        FeatureDefinition::fractional("age"),
    ])
    .online_store(OnlineStoreConfig::enabled())
    .build()
    .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateFeature { name, other } if name == "age" && other == "age"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"age\""]);
}

#[test]
fn duplicate_feature_names_are_compared_ignoring_ascii_case() {
    let err = builder([
        FeatureDefinition::integral("age"),
        FeatureDefinition::integral("AGE"),
    ])
    .online_store(OnlineStoreConfig::enabled())
    .build()
    .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateFeature { name, other } if name == "AGE" && other == "age"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"AGE\"", "\"age\""]);
    let err = builder([FeatureDefinition::integral("ID")])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateFeature { name, .. } if name == "ID"),
        "{err:?}"
    );
    online_group([
        FeatureDefinition::integral("age"),
        FeatureDefinition::integral("age2"),
    ]);
}

// ---------------------------------------------------------------- identifier and event time

#[test]
fn record_identifier_must_be_among_the_definitions() {
    let err = FeatureGroup::builder("g", "customer_id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingFeature { role: "record identifier", feature } if feature == "customer_id"),
        "{err:?}"
    );
    assert_mentions(&err, &["record identifier", "customer_id"]);
}

#[test]
fn record_identifier_may_be_any_scalar_type_but_not_a_collection() {
    for t in [
        FeatureType::Integral,
        FeatureType::Fractional,
        FeatureType::String,
    ] {
        FeatureGroup::builder("g", "id", "ts")
            .features([
                FeatureDefinition::new("id", t),
                FeatureDefinition::string("ts"),
            ])
            .online_store(OnlineStoreConfig::enabled())
            .build()
            .unwrap();
    }
    let err = FeatureGroup::builder("g", "id", "ts")
        .features([
            FeatureDefinition::string("id").with_collection(Collection::List),
            FeatureDefinition::string("ts"),
        ])
        .online_store(in_memory())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFeatureRole { role: "record identifier", feature, .. } if feature == "id"),
        "{err:?}"
    );
    assert_mentions(&err, &["record identifier", "\"id\"", "List", "scalar"]);
}

#[test]
fn event_time_feature_must_be_among_the_definitions() {
    let err = FeatureGroup::builder("g", "id", "event_time")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingFeature { role: "event time", feature } if feature == "event_time"),
        "{err:?}"
    );
    assert_mentions(&err, &["event time", "event_time"]);
}

#[test]
fn event_time_feature_may_be_string_or_fractional_but_not_integral() {
    for t in [FeatureType::String, FeatureType::Fractional] {
        FeatureGroup::builder("g", "id", "ts")
            .features([
                FeatureDefinition::string("id"),
                FeatureDefinition::new("ts", t),
            ])
            .online_store(OnlineStoreConfig::enabled())
            .build()
            .unwrap();
    }
    let err = FeatureGroup::builder("g", "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::integral("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFeatureRole { role: "event time", feature, .. } if feature == "ts"),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["event time", "\"ts\"", "Integral", "String or Fractional"],
    );
}

#[test]
fn event_time_feature_may_not_be_a_collection() {
    let err = FeatureGroup::builder("g", "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts").with_collection(Collection::Set),
        ])
        .online_store(in_memory())
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
    assert_mentions(&err, &["\"ts\"", "Set of String"]);
}

#[test]
fn event_time_feature_may_not_be_the_record_identifier() {
    let err = FeatureGroup::builder("g", "ts", "ts")
        .features([FeatureDefinition::string("ts")])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFeatureRole { role: "event time", feature, .. } if feature == "ts"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"ts\"", "also the record identifier"]);
}

// ---------------------------------------------------------------- stores

#[test]
fn group_needs_an_enabled_online_store_or_an_offline_store() {
    let disabled = OnlineStoreConfig {
        enable_online_store: Some(false),
        ..OnlineStoreConfig::default()
    };
    for b in [
        builder([]),
        builder([]).online_store(disabled),
        builder([]).online_store(OnlineStoreConfig::default()),
    ] {
        let err = b.build().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field.contains("OnlineStoreConfig")),
            "{err:?}"
        );
        assert_mentions(
            &err,
            &[
                "OnlineStoreConfig/OfflineStoreConfig",
                "online store",
                "offline store",
            ],
        );
    }
    let online = builder([])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap();
    assert!(online.online_enabled() && !online.offline_enabled());
    let offline = builder([])
        .offline_store_s3_uri("s3://bucket")
        .build()
        .unwrap();
    assert!(!offline.online_enabled() && offline.offline_enabled());
}

#[test]
fn collection_features_need_the_in_memory_online_store() {
    let list = FeatureDefinition::integral("clicks").with_collection(Collection::List);
    let refused = [
        builder([list.clone()]).online_store(OnlineStoreConfig::enabled()),
        builder([list.clone()])
            .online_store(OnlineStoreConfig::enabled().with_storage_type(StorageType::Standard)),
        builder([list.clone()])
            .online_store(OnlineStoreConfig::enabled().with_storage_type(StorageType::StandardV2)),
        builder([list.clone()]).offline_store_s3_uri("s3://bucket"),
        // InMemory but not enabled: the collection has nowhere to live.
        builder([list.clone()])
            .online_store(OnlineStoreConfig::default().with_storage_type(StorageType::InMemory))
            .offline_store_s3_uri("s3://bucket"),
    ];
    for b in refused {
        let err = b.build().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "clicks"),
            "{err:?}"
        );
        assert_mentions(&err, &["\"clicks\"", "List", "InMemory"]);
    }
    let group = in_memory_group([list]);
    assert_eq!(group.storage_type(), StorageType::InMemory);
}

#[test]
fn group_holds_at_most_one_vector_feature() {
    let err = builder([vector("a", 3), vector("b", 3)])
        .online_store(in_memory())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "b"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"b\"", "at most one Vector"]);
    in_memory_group([
        vector("a", 3),
        FeatureDefinition::fractional("b").with_collection(Collection::List),
    ]);
}

#[test]
fn in_memory_online_store_with_an_offline_store_is_refused() {
    let err = builder([])
        .online_store(in_memory())
        .offline_store_s3_uri("s3://bucket")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "OfflineStoreConfig"),
        "{err:?}"
    );
    assert_mentions(&err, &["OfflineStoreConfig", "InMemory"]);
    builder([])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bucket")
        .build()
        .unwrap();
    builder([]).online_store(in_memory()).build().unwrap();
}

// ---------------------------------------------------------------- TTL

#[test]
fn ttl_of_zero_units_is_refused_and_one_unit_accepted() {
    let err = TtlDuration::new(TtlUnit::Days, 0).validate().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "TtlDuration.Value"),
        "{err:?}"
    );
    assert_mentions(&err, &["TtlDuration.Value", "at least 1"]);
    TtlDuration::new(TtlUnit::Seconds, 1).validate().unwrap();

    let err = builder([])
        .online_store(OnlineStoreConfig::enabled().with_ttl(TtlDuration::new(TtlUnit::Hours, 0)))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "TtlDuration.Value"),
        "{err:?}"
    );
    let group = builder([])
        .online_store(OnlineStoreConfig::enabled().with_ttl(TtlDuration::new(TtlUnit::Hours, 1)))
        .build()
        .unwrap();
    assert_eq!(group.ttl(), Some(TtlDuration::new(TtlUnit::Hours, 1)));
}

#[test]
fn ttl_converts_each_unit_to_a_duration() {
    use std::time::Duration;
    let cases = [
        (TtlUnit::Seconds, 1),
        (TtlUnit::Minutes, 60),
        (TtlUnit::Hours, 3_600),
        (TtlUnit::Days, 86_400),
        (TtlUnit::Weeks, 604_800),
    ];
    for (unit, secs) in cases {
        assert_eq!(
            TtlDuration::new(unit, 3).as_duration(),
            Duration::from_secs(3 * secs),
            "{unit:?}"
        );
    }
    assert_eq!(
        TtlDuration::new(TtlUnit::Weeks, u32::MAX).as_duration(),
        Duration::from_secs(604_800 * u64::from(u32::MAX))
    );
}

// ---------------------------------------------------------------- offline store

#[test]
fn offline_s3_uri_must_be_s3_or_https_with_a_bucket() {
    for uri in [
        "bucket/prefix",
        "s3://",
        "s3:///prefix",
        "gs://bucket",
        "",
        "S3://bucket",
    ] {
        let err = offline_group(OfflineStoreConfig::new(uri)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field == "OfflineStoreConfig.S3StorageConfig.S3Uri"),
            "{uri:?}: {err:?}"
        );
        assert_mentions(&err, &["S3Uri", &format!("{uri:?}")]);
    }
    for uri in [
        "s3://bucket",
        "s3://bucket/",
        "s3://bucket/a/b",
        "https://bucket/prefix",
    ] {
        offline_group(OfflineStoreConfig::new(uri)).unwrap();
    }
}

fn with_catalog(table: &str, catalog: &str, database: &str) -> OfflineStoreConfig {
    OfflineStoreConfig {
        data_catalog_config: Some(DataCatalogConfig {
            table_name: table.into(),
            catalog: catalog.into(),
            database: database.into(),
        }),
        ..OfflineStoreConfig::new("s3://bucket")
    }
}

#[test]
fn data_catalog_names_must_have_1_to_255_characters() {
    let long = "t".repeat(256);
    let cases = [
        (
            with_catalog("", "AwsDataCatalog", "db"),
            "DataCatalogConfig.TableName",
        ),
        (with_catalog("t", "", "db"), "DataCatalogConfig.Catalog"),
        (
            with_catalog("t", "AwsDataCatalog", &long),
            "DataCatalogConfig.Database",
        ),
    ];
    for (config, expected) in cases {
        let err = config.validate().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field == expected),
            "{err:?}"
        );
        assert_mentions(&err, &[expected, "1 to 255"]);
        let err = offline_group(config).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field == expected),
            "{err:?}"
        );
    }
    let max = "t".repeat(255);
    offline_group(with_catalog(&max, &max, &max)).unwrap();
    offline_group(with_catalog("t", "c", "d")).unwrap();
}

#[test]
fn iceberg_with_glue_table_creation_disabled_is_refused() {
    let iceberg = |disable: Option<bool>| OfflineStoreConfig {
        table_format: Some(TableFormat::Iceberg),
        disable_glue_table_creation: disable,
        ..OfflineStoreConfig::new("s3://bucket")
    };
    let err = offline_group(iceberg(Some(true))).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "OfflineStoreConfig.TableFormat"),
        "{err:?}"
    );
    assert_mentions(&err, &["Iceberg", "DisableGlueTableCreation"]);
    offline_group(iceberg(Some(false))).unwrap();
    offline_group(iceberg(None)).unwrap();
    // Glue tables may skip table creation.
    let glue = OfflineStoreConfig {
        table_format: Some(TableFormat::Glue),
        disable_glue_table_creation: Some(true),
        ..OfflineStoreConfig::new("s3://bucket")
    };
    offline_group(glue).unwrap();
}

#[test]
fn table_format_default_means_glue() {
    let with = |f: Option<TableFormat>| OfflineStoreConfig {
        table_format: f,
        ..OfflineStoreConfig::new("s3://bucket")
    };
    assert_eq!(with(None).table_format(), TableFormat::Glue);
    assert_eq!(
        with(Some(TableFormat::Default)).table_format(),
        TableFormat::Glue
    );
    assert_eq!(
        with(Some(TableFormat::Glue)).table_format(),
        TableFormat::Glue
    );
    assert_eq!(
        with(Some(TableFormat::Iceberg)).table_format(),
        TableFormat::Iceberg
    );
}

// ---------------------------------------------------------------- description, tags, role

fn online() -> fs_schema::FeatureGroupBuilder {
    builder([]).online_store(OnlineStoreConfig::enabled())
}

#[test]
fn description_of_128_characters_is_accepted_and_129_refused() {
    online()
        .description("d".repeat(MAX_DESCRIPTION_LEN))
        .build()
        .unwrap();
    // Characters, not bytes, are counted.
    online()
        .description("\u{e9}".repeat(MAX_DESCRIPTION_LEN))
        .build()
        .unwrap();
    let err = online()
        .description("d".repeat(MAX_DESCRIPTION_LEN + 1))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "Description"),
        "{err:?}"
    );
    assert_mentions(&err, &["Description", "129", "128"]);
}

#[test]
fn group_holds_50_tags_but_not_51() {
    let tagged = |n: usize| (0..n).fold(online(), |b, i| b.tag(format!("k{i}"), "v"));
    assert_eq!(tagged(MAX_TAGS).build().unwrap().tags.unwrap().len(), 50);
    let err = tagged(MAX_TAGS + 1).build().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "Tags"),
        "{err:?}"
    );
    assert_mentions(&err, &["Tags", "51", "50"]);
}

#[test]
fn tag_key_must_have_1_to_128_characters() {
    for key in [String::new(), "k".repeat(MAX_TAG_KEY_LEN + 1)] {
        let err = online().tag(key.clone(), "v").build().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field == "Tags.Key"),
            "{err:?}"
        );
        assert_mentions(&err, &["Tags.Key", &format!("{key:?}"), "128"]);
    }
    online()
        .tag("k".repeat(MAX_TAG_KEY_LEN), "v")
        .tag("k", "v")
        .build()
        .unwrap();
}

#[test]
fn tag_value_may_have_at_most_256_characters() {
    let err = online()
        .tag("team", "v".repeat(MAX_TAG_VALUE_LEN + 1))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "Tags.Value"),
        "{err:?}"
    );
    assert_mentions(&err, &["Tags.Value", "\"team\"", "256"]);
    online()
        .tag("team", "v".repeat(MAX_TAG_VALUE_LEN))
        .tag("empty", "")
        .build()
        .unwrap();
}

#[test]
fn role_arn_must_be_an_iam_role_arn() {
    for arn in [
        "arn:aws:iam::123456789012:role/FeatureStore",
        "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
        "arn:aws-cn:iam::123456789012:role/x",
        "arn:aws-us-gov:iam::123456789012:role/x",
    ] {
        online().role_arn(arn).build().unwrap();
    }
    for arn in [
        "",
        "not-an-arn",
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:iam::12345678901:role/x",
        "arn:aws:iam::12345678901a:role/x",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam:us-east-1:123456789012:role/x",
        "arn:aws:s3:::bucket",
        "arn:gcp:iam::123456789012:role/x",
    ] {
        let err = online().role_arn(arn).build().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field == "RoleArn"),
            "{arn:?}: {err:?}"
        );
        assert_mentions(&err, &["RoleArn", &format!("{arn:?}")]);
    }
}

// ---------------------------------------------------------------- records

fn scalar_group() -> FeatureGroup {
    online_group([
        FeatureDefinition::integral("n"),
        FeatureDefinition::fractional("x"),
        FeatureDefinition::string("s"),
    ])
}

fn base_record() -> Record {
    Record::new()
        .with("id", "r1")
        .with("ts", "2024-01-01T00:00:00Z")
}

#[test]
fn record_with_valid_values_passes() {
    let group = scalar_group();
    base_record()
        .with("n", "-42")
        .with("x", "1.5e3")
        .with("s", "anything at all")
        .validate(&group)
        .unwrap();
    base_record().validate(&group).unwrap();
    base_record().with("n", "12.000").validate(&group).unwrap();
}

#[test]
fn record_with_an_undefined_feature_is_refused() {
    let err = base_record()
        .with("nope", "1")
        .validate(&scalar_group())
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownFeature { group, feature } if group == "g" && feature == "nope"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"nope\"", "\"g\""]);
}

#[test]
fn record_with_a_feature_given_twice_is_refused() {
    let err = base_record()
        .with("n", "1")
        .with("n", "2")
        .validate(&scalar_group())
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateFeature { name, .. } if name == "n"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"n\""]);
}

#[test]
fn record_values_must_parse_as_their_feature_type() {
    let group = scalar_group();
    let cases = [
        ("n", "abc", "not an integer"),
        ("n", "1.5", "fractional part"),
        ("n", "99999999999999999999", "64-bit signed range"),
        ("n", "", "not an integer"),
        ("x", "abc", "not a number"),
        ("x", "NaN", "not a finite number"),
        ("x", "inf", "not a finite number"),
    ];
    for (feature, value, reason) in cases {
        let err = base_record()
            .with(feature, value)
            .validate(&group)
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { feature: f, .. } if f == feature),
            "{value:?}: {err:?}"
        );
        assert_mentions(
            &err,
            &[&format!("{feature:?}"), &format!("{value:?}"), reason],
        );
    }
}

#[test]
fn record_value_shape_must_match_scalar_or_collection() {
    let group = in_memory_group([
        FeatureDefinition::integral("n"),
        FeatureDefinition::string("tags").with_collection(Collection::List),
    ]);
    let err = base_record()
        .with("n", vec!["1".to_owned()])
        .validate(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "n"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"n\"", "ValueAsString"]);
    let err = base_record()
        .with("tags", "a")
        .validate(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "tags"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"tags\"", "List", "ValueAsStringList"]);
    base_record()
        .with("n", "1")
        .with("tags", vec!["a".to_owned(), "a".to_owned()])
        .validate(&group)
        .unwrap();
}

#[test]
fn record_collection_elements_must_parse_and_sets_and_vectors_hold_their_shape() {
    let group = in_memory_group([
        FeatureDefinition::integral("counts").with_collection(Collection::List),
        FeatureDefinition::string("labels").with_collection(Collection::Set),
        vector("emb", 3),
    ]);
    let list = |items: &[&str]| Value::List(items.iter().map(|s| (*s).to_owned()).collect());
    let cases = [
        (
            "counts",
            list(&["1", "x"]),
            vec!["\"counts\"", "element 1", "\"x\""],
        ),
        (
            "labels",
            list(&["a", "b", "a"]),
            vec!["\"labels\"", "repeats \"a\"", "Set"],
        ),
        (
            "emb",
            list(&["0.1", "0.2"]),
            vec!["\"emb\"", "2 elements", "dimension 3"],
        ),
        (
            "emb",
            list(&["0.1", "0.2", "NaN"]),
            vec!["\"emb\"", "element 2", "finite"],
        ),
    ];
    for (feature, value, needles) in cases {
        let err = base_record()
            .with(feature, value.clone())
            .validate(&group)
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { feature: f, .. } if f == feature),
            "{value:?}: {err:?}"
        );
        assert_mentions(&err, &needles);
    }
    base_record()
        .with("counts", list(&["1", "1"]))
        .with("labels", list(&["a", "b"]))
        .with("emb", list(&["0.1", "0.2", "0.3"]))
        .validate(&group)
        .unwrap();
}

#[test]
fn record_value_may_be_at_most_350_kib() {
    let group = scalar_group();
    let err = base_record()
        .with("s", "v".repeat(MAX_VALUE_BYTES + 1))
        .validate(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "s"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"s\"", "358401 bytes", "358400"]);
    // A list value counts the bytes of all its elements.
    let group_l =
        in_memory_group([FeatureDefinition::string("l").with_collection(Collection::List)]);
    let half = "v".repeat(MAX_VALUE_BYTES / 2 + 1);
    let err = base_record()
        .with("l", vec![half.clone(), half])
        .validate(&group_l)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "l"),
        "{err:?}"
    );
    // Under the limit, together with the identifier and event time, passes.
    let room = MAX_RECORD_BYTES - "r1".len() - "2024-01-01T00:00:00Z".len();
    base_record()
        .with("s", "v".repeat(room))
        .validate(&group)
        .unwrap();
}

#[test]
fn record_may_be_at_most_350_kib_in_total() {
    let group = scalar_group();
    let room = MAX_RECORD_BYTES - "r1".len() - "2024-01-01T00:00:00Z".len();
    // Exactly at the limit: fine.
    base_record()
        .with("s", "v".repeat(room))
        .validate(&group)
        .unwrap();
    // One byte more, spread over two values each within the value limit.
    let err = base_record()
        .with("s", "v".repeat(room))
        .with("n", "1")
        .validate(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::RecordTooLarge { record_id, size, max } if record_id == "r1" && *size == MAX_RECORD_BYTES + 1 && *max == MAX_RECORD_BYTES),
        "{err:?}"
    );
    assert_mentions(&err, &["\"r1\"", "358401 bytes", "358400"]);
    // A value of exactly the value limit passes that rule; the record as a whole does not.
    let err = base_record()
        .with("s", "v".repeat(MAX_VALUE_BYTES))
        .validate(&group)
        .unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err:?}");
}

#[test]
fn record_identifier_is_required() {
    let err = Record::new()
        .with("ts", "2024-01-01T00:00:00Z")
        .validate(&scalar_group())
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "id"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"id\"", "no record identifier"]);
}

#[test]
fn record_identifier_may_be_at_most_2_kib() {
    let group = scalar_group();
    let ok = "i".repeat(MAX_RECORD_IDENTIFIER_BYTES);
    Record::new()
        .with("id", ok.as_str())
        .with("ts", "2024-01-01T00:00:00Z")
        .validate(&group)
        .unwrap();
    let long = "i".repeat(MAX_RECORD_IDENTIFIER_BYTES + 1);
    let err = Record::new()
        .with("id", long.as_str())
        .with("ts", "2024-01-01T00:00:00Z")
        .validate(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "id"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"id\"", "2049 bytes", "2048"]);
    // Bytes, not characters: 1,025 two-byte characters are 2,050 bytes.
    let wide = "\u{e9}".repeat(1_025);
    let err = Record::new()
        .with("id", wide.as_str())
        .with("ts", "2024-01-01T00:00:00Z")
        .validate(&group)
        .unwrap_err();
    assert_mentions(&err, &["2050 bytes"]);
}

#[test]
fn record_event_time_is_required_and_must_parse() {
    let group = scalar_group();
    let err = Record::new().with("id", "r1").validate(&group).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { feature, .. } if feature == "ts"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"ts\"", "no event time"]);
    let err = Record::new()
        .with("id", "r1")
        .with("ts", "2024-01-01 00:00:00")
        .validate(&group)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidEventTime { value, .. } if value == "2024-01-01 00:00:00"),
        "{err:?}"
    );
    assert_mentions(&err, &["2024-01-01 00:00:00", "yyyy-MM-dd'T'HH:mm:ssZ"]);

    let frac = FeatureGroup::builder("g", "id", "ts")
        .features([
            FeatureDefinition::integral("id"),
            FeatureDefinition::fractional("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap();
    let ok = Record::new().with("id", "1").with("ts", "1700000000.5");
    ok.validate(&frac).unwrap();
    assert_eq!(ok.event_time(&frac).unwrap().as_millis(), 1_700_000_000_500);
    let err = Record::new()
        .with("id", "1")
        .with("ts", "2024-01-01T00:00:00Z")
        .validate(&frac)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue { .. } | Error::InvalidEventTime { .. }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["2024-01-01T00:00:00Z"]);
    let err = Record::new()
        .with("id", "1")
        .with("ts", "1e20")
        .validate(&frac)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidEventTime { .. }), "{err:?}");
    assert_mentions(&err, &["9999-12-31T23:59:59.999Z"]);
}

// ---------------------------------------------------------------- event times

#[test]
fn event_time_accepts_both_iso_forms() {
    let a = EventTime::parse_iso("2024-02-29T12:30:45Z").unwrap();
    let b = EventTime::parse_iso("2024-02-29T12:30:45.000Z").unwrap();
    let c = EventTime::parse_iso("2024-02-29T12:30:45.678Z").unwrap();
    assert_eq!(a, b);
    assert_eq!(c.as_millis() - a.as_millis(), 678);
    assert_eq!(c.to_iso(), "2024-02-29T12:30:45.678Z");
    assert_eq!(c.to_string(), "2024-02-29T12:30:45.678Z");
    assert_eq!(c.format(FeatureType::String), "2024-02-29T12:30:45.678Z");
}

#[test]
fn event_time_refuses_other_formats_naming_the_value_and_the_formats() {
    for s in [
        "2024-02-29 12:30:45Z",
        "2024-02-29T12:30:45",
        "2024-02-29T12:30:45+00:00",
        "2024-02-29T12:30:45.6Z",
        "2024-02-29T12:30:45.678901Z",
        "2024-02-29T12:30:45,678Z",
        "2024-2-29T12:30:45Z",
        "+2024-02-29T12:30:45Z",
        "10000-01-01T00:00:00Z",
        "1709209845",
        "",
    ] {
        let err = EventTime::parse_iso(s).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidEventTime { value, .. } if value == s),
            "{s:?}: {err:?}"
        );
        assert_mentions(
            &err,
            &[
                &format!("{s:?}"),
                "yyyy-MM-dd'T'HH:mm:ssZ",
                "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            ],
        );
    }
}

#[test]
fn event_time_refuses_impossible_dates_and_times() {
    for (s, reason) in [
        ("2023-02-29T00:00:00Z", "calendar date"),
        ("2024-04-31T00:00:00Z", "calendar date"),
        ("2024-00-10T00:00:00Z", "calendar date"),
        ("2024-01-01T24:00:00Z", "time of day"),
        ("2024-01-01T23:60:00Z", "time of day"),
        ("2024-01-01T23:59:60Z", "time of day"),
    ] {
        let err = EventTime::parse_iso(s).unwrap_err();
        assert!(
            matches!(err, Error::InvalidEventTime { .. }),
            "{s:?}: {err:?}"
        );
        assert_mentions(&err, &[s, reason]);
    }
    EventTime::parse_iso("2024-02-29T23:59:59Z").unwrap();
}

#[test]
fn event_time_range_is_year_0000_to_9999_inclusive() {
    assert_eq!(
        EventTime::parse_iso("0000-01-01T00:00:00.000Z").unwrap(),
        EventTime::MIN
    );
    assert_eq!(
        EventTime::parse_iso("9999-12-31T23:59:59.999Z").unwrap(),
        EventTime::MAX
    );
    assert_eq!(
        EventTime::from_millis(EventTime::MIN.as_millis()).unwrap(),
        EventTime::MIN
    );
    assert_eq!(
        EventTime::from_millis(EventTime::MAX.as_millis()).unwrap(),
        EventTime::MAX
    );
    for millis in [
        EventTime::MIN.as_millis() - 1,
        EventTime::MAX.as_millis() + 1,
        i64::MIN,
        i64::MAX,
    ] {
        let err = EventTime::from_millis(millis).unwrap_err();
        assert!(matches!(err, Error::InvalidEventTime { .. }), "{err:?}");
        assert_mentions(
            &err,
            &[
                &millis.to_string(),
                "0000-01-01T00:00:00.000Z",
                "9999-12-31T23:59:59.999Z",
            ],
        );
    }
    let max_secs = EventTime::MAX.to_fractional_seconds();
    assert_eq!(
        EventTime::from_fractional_seconds(max_secs).unwrap(),
        EventTime::MAX
    );
    for secs in [
        max_secs + 1.0,
        EventTime::MIN.to_fractional_seconds() - 1.0,
        1e300,
    ] {
        let err = EventTime::from_fractional_seconds(secs).unwrap_err();
        assert!(
            matches!(err, Error::InvalidEventTime { .. }),
            "{secs}: {err:?}"
        );
        assert_mentions(&err, &["9999-12-31T23:59:59.999Z"]);
    }
}

#[test]
fn fractional_event_time_is_seconds_rounded_to_the_millisecond() {
    let t = EventTime::parse_fractional("1700000000.123").unwrap();
    assert_eq!(t.as_millis(), 1_700_000_000_123);
    assert_eq!(t.format(FeatureType::Fractional), "1700000000.123");
    assert_eq!(
        EventTime::parse_fractional(" 1700000000 ")
            .unwrap()
            .to_iso(),
        "2023-11-14T22:13:20.000Z"
    );
    for s in ["NaN", "inf", "-inf"] {
        let err = EventTime::parse_fractional(s).unwrap_err();
        assert!(
            matches!(err, Error::InvalidEventTime { .. }),
            "{s}: {err:?}"
        );
        assert_mentions(&err, &["finite"]);
    }
    let err = EventTime::parse_fractional("soon").unwrap_err();
    assert_mentions(&err, &["\"soon\"", "seconds since the Unix epoch"]);
}

#[test]
fn event_time_parse_follows_the_feature_type() {
    let iso = EventTime::parse("2023-11-14T22:13:20Z", FeatureType::String).unwrap();
    let secs = EventTime::parse("1700000000", FeatureType::Fractional).unwrap();
    assert_eq!(iso, secs);
    assert!(EventTime::parse("1700000000", FeatureType::String).is_err());
    assert!(EventTime::parse("2023-11-14T22:13:20Z", FeatureType::Fractional).is_err());
    let err = EventTime::parse("1700000000", FeatureType::Integral).unwrap_err();
    assert!(matches!(err, Error::InvalidEventTime { .. }), "{err:?}");
    assert_mentions(&err, &["Integral"]);
    assert_eq!("2023-11-14T22:13:20Z".parse::<EventTime>().unwrap(), iso);
    assert_eq!("1700000000".parse::<EventTime>().unwrap(), iso);
    assert!("tomorrow".parse::<EventTime>().is_err());
}

#[test]
fn event_time_round_trips_through_chrono() {
    let t = EventTime::parse_iso("1969-07-20T20:17:40.123Z").unwrap();
    assert!(t.as_millis() < 0);
    assert_eq!(EventTime::from_datetime(t.to_datetime()).unwrap(), t);
    assert_eq!(t.to_iso(), "1969-07-20T20:17:40.123Z");
}
