//! CreateFeatureGroup JSON files: every valid file round-trips, every invalid
//! one fails with a message naming its problem.

use std::path::{Path, PathBuf};

use fs_schema::{
    Collection, Error, FeatureDefinition, FeatureGroup, FeatureType, OnlineStoreConfig,
    StorageType, TableFormat, ThroughputConfig, ThroughputMode, TtlDuration, TtlUnit,
};
use serde_json::Value;

use crate::assert_mentions;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data");

fn json_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(DATA).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn valid(name: &str) -> FeatureGroup {
    let path = Path::new(DATA).join("create-feature-group").join(name);
    FeatureGroup::from_json(&read(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn invalid(name: &str) -> Error {
    let path = Path::new(DATA)
        .join("create-feature-group-invalid")
        .join(name);
    match FeatureGroup::from_json(&read(&path)) {
        Ok(g) => panic!("{name} parsed: {g:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_valid_file_round_trips_to_semantically_equal_json() {
    let files = json_files("create-feature-group");
    assert!(
        files.len() >= 5,
        "expected the shared CreateFeatureGroup files, found {files:?}"
    );
    for path in files {
        let original = read(&path);
        let group = FeatureGroup::from_json(&original)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let written = group.to_json().unwrap();
        let original_value: Value = serde_json::from_str(&original).unwrap();
        let written_value: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(written_value, original_value, "{}", path.display());
        let reparsed = FeatureGroup::from_json(&written).unwrap();
        assert_eq!(reparsed, group, "{}", path.display());
    }
}

#[test]
fn customers_file_parses_every_setting() {
    let g = valid("customers.json");
    assert_eq!(g.name(), "customers");
    assert_eq!(
        g.record_identifier(),
        &FeatureDefinition::integral("customer_id")
    );
    assert_eq!(g.event_time(), &FeatureDefinition::string("event_time"));
    assert_eq!(g.feature_definitions.len(), 7);
    assert_eq!(
        g.feature("lifetime_value").unwrap().feature_type,
        FeatureType::Fractional
    );
    assert!(g.online_enabled() && g.offline_enabled());
    assert_eq!(g.ttl(), Some(TtlDuration::new(TtlUnit::Days, 30)));
    assert_eq!(g.storage_type(), StorageType::Standard);
    let off = g.offline_store_config.as_ref().unwrap();
    assert_eq!(off.table_format(), TableFormat::Glue);
    assert_eq!(
        off.s3_storage_config.kms_key_id.as_deref(),
        Some("alias/feature-store")
    );
    assert_eq!(
        off.data_catalog_config.as_ref().unwrap().database,
        "sagemaker_featurestore"
    );
    assert_eq!(
        g.throughput_config.as_ref().unwrap().throughput_mode,
        ThroughputMode::OnDemand
    );
    assert_eq!(g.tags.as_ref().unwrap()[1].value, "4711");
}

#[test]
fn in_memory_file_parses_collection_types() {
    let g = valid("embeddings-in-memory.json");
    assert_eq!(g.storage_type(), StorageType::InMemory);
    assert_eq!(
        g.feature("embedding").unwrap().collection,
        Some(Collection::Vector { dimension: 384 })
    );
    assert_eq!(
        g.feature("categories").unwrap().collection,
        Some(Collection::Set)
    );
    assert_eq!(
        g.feature("recent_prices").unwrap().collection,
        Some(Collection::List)
    );
    assert!(!g.offline_enabled());
}

#[test]
fn iceberg_and_standard_v2_files_keep_their_wire_names() {
    let iceberg = valid("transactions-iceberg.json");
    assert_eq!(
        iceberg
            .offline_store_config
            .as_ref()
            .unwrap()
            .table_format(),
        TableFormat::Iceberg
    );
    assert_eq!(iceberg.event_time().feature_type, FeatureType::Fractional);
    assert_eq!(
        iceberg.throughput_config,
        Some(ThroughputConfig {
            throughput_mode: ThroughputMode::Provisioned,
            provisioned_read_capacity_units: Some(0),
            provisioned_write_capacity_units: Some(2000),
        })
    );
    let v2 = valid("sessions-standard-v2.json");
    assert_eq!(v2.storage_type(), StorageType::StandardV2);
    let json: Value = serde_json::from_str(&v2.to_json().unwrap()).unwrap();
    assert_eq!(json["OnlineStoreConfig"]["StorageType"], "Standard_V2");
    assert_eq!(json["OfflineStoreConfig"]["TableFormat"], "Default");
    assert_eq!(
        v2.offline_store_config.as_ref().unwrap().table_format(),
        TableFormat::Glue
    );
}

#[test]
fn to_json_leaves_out_unset_settings() {
    let g = valid("minimal-offline.json");
    let json: Value = serde_json::from_str(&g.to_json().unwrap()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "EventTimeFeatureName",
        "FeatureDefinitions",
        "FeatureGroupName",
        "OfflineStoreConfig",
        "RecordIdentifierFeatureName",
    ];
    let mut keys = keys;
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(
        json["OfflineStoreConfig"],
        serde_json::json!({"S3StorageConfig": {"S3Uri": "s3://bucket"}})
    );
}

#[test]
fn builder_group_round_trips_through_json() {
    let group = crate::builder([
        FeatureDefinition::fractional("emb").with_collection(Collection::Vector { dimension: 2 }),
        FeatureDefinition::integral("n").with_collection(Collection::Set),
    ])
    .online_store(
        OnlineStoreConfig::enabled()
            .with_storage_type(StorageType::InMemory)
            .with_ttl(TtlDuration::new(TtlUnit::Weeks, 2)),
    )
    .description("d")
    .tag("k", "v")
    .build()
    .unwrap();
    assert_eq!(
        FeatureGroup::from_json(&group.to_json().unwrap()).unwrap(),
        group
    );
}

// ---------------------------------------------------------------- invalid files

/// The invalid files and the test that covers each.
const INVALID_FILES: [&str; 9] = [
    "collection-on-standard-store.json",
    "duplicate-feature-case.json",
    "iceberg-glue-table-disabled.json",
    "integral-event-time.json",
    "no-store.json",
    "reserved-name.json",
    "truncated.json",
    "unknown-feature-type.json",
    "unknown-field.json",
];

#[test]
fn every_invalid_file_is_covered_and_refused() {
    let names: Vec<String> = json_files("create-feature-group-invalid")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, INVALID_FILES, "add a test for each new invalid file");
    for name in INVALID_FILES {
        invalid(name);
    }
}

#[test]
fn reserved_name_file_is_refused_naming_the_feature() {
    let err = invalid("reserved-name.json");
    assert!(
        matches!(&err, Error::ReservedName { name } if name == "write_time"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"write_time\"", "reserved"]);
}

#[test]
fn integral_event_time_file_is_refused_naming_feature_and_type() {
    let err = invalid("integral-event-time.json");
    assert!(
        matches!(&err, Error::InvalidFeatureRole { role: "event time", feature, .. } if feature == "ts"),
        "{err:?}"
    );
    assert_mentions(&err, &["event time", "\"ts\"", "Integral"]);
}

#[test]
fn unknown_field_file_is_refused_naming_the_field() {
    let err = invalid("unknown-field.json");
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    assert_mentions(&err, &["unknown field", "Descripton", "Description"]);
}

#[test]
fn truncated_file_is_refused_with_line_and_column() {
    let err = invalid("truncated.json");
    let Error::Json { source } = &err else {
        panic!("{err:?}")
    };
    assert!(source.is_eof(), "{source}");
    assert_eq!(source.line(), 2, "{source}");
    assert_mentions(
        &err,
        &[
            "EOF",
            &format!("line {} column {}", source.line(), source.column()),
        ],
    );
}

#[test]
fn no_store_file_is_refused_naming_both_stores() {
    let err = invalid("no-store.json");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert_mentions(&err, &["OnlineStoreConfig", "OfflineStoreConfig"]);
}

#[test]
fn collection_on_standard_store_file_is_refused_naming_the_feature() {
    let err = invalid("collection-on-standard-store.json");
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "recent_items"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"recent_items\"", "InMemory"]);
}

#[test]
fn iceberg_with_glue_table_disabled_file_is_refused() {
    let err = invalid("iceberg-glue-table-disabled.json");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert_mentions(
        &err,
        &["TableFormat", "Iceberg", "DisableGlueTableCreation"],
    );
}

#[test]
fn duplicate_feature_case_file_is_refused_naming_both_spellings() {
    let err = invalid("duplicate-feature-case.json");
    assert!(
        matches!(&err, Error::DuplicateFeature { name, other } if name == "Age" && other == "age"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"Age\"", "\"age\""]);
}

#[test]
fn unknown_feature_type_file_is_refused_naming_the_type() {
    let err = invalid("unknown-feature-type.json");
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    assert_mentions(&err, &["Float", "Integral", "Fractional"]);
}

#[test]
fn malformed_collection_definitions_are_refused_naming_the_feature() {
    let group = |defs: &str| {
        format!(
            r#"{{"FeatureGroupName":"g","RecordIdentifierFeatureName":"id","EventTimeFeatureName":"ts",
            "FeatureDefinitions":[{{"FeatureName":"id","FeatureType":"String"}},{{"FeatureName":"ts","FeatureType":"String"}},{defs}],
            "OnlineStoreConfig":{{"EnableOnlineStore":true,"StorageType":"InMemory"}}}}"#
        )
    };
    let cases = [
        (
            r#"{"FeatureName":"e","FeatureType":"Fractional","CollectionType":"Vector"}"#,
            "Dimension",
        ),
        (
            r#"{"FeatureName":"e","FeatureType":"String","CollectionType":"Bag"}"#,
            "Bag",
        ),
        (
            r#"{"FeatureName":"e","FeatureType":"String","CollectionType":"List","CollectionConfig":{"VectorConfig":{"Dimension":2}}}"#,
            "only allowed with CollectionType Vector",
        ),
        (
            r#"{"FeatureName":"e","FeatureType":"Fractional","CollectionConfig":{"VectorConfig":{"Dimension":2}}}"#,
            "without CollectionType",
        ),
    ];
    for (def, needle) in cases {
        let err = FeatureGroup::from_json(&group(def)).unwrap_err();
        assert!(matches!(err, Error::Json { .. }), "{def}: {err:?}");
        assert_mentions(&err, &["\"e\"", needle]);
    }
    let ok = r#"{"FeatureName":"e","FeatureType":"Fractional","CollectionType":"Vector","CollectionConfig":{"VectorConfig":{"Dimension":2}}}"#;
    let g = FeatureGroup::from_json(&group(ok)).unwrap();
    assert_eq!(
        g.feature("e").unwrap().collection,
        Some(Collection::Vector { dimension: 2 })
    );
}

#[test]
fn from_json_validates_after_parsing() {
    let json = r#"{"FeatureGroupName":"g","RecordIdentifierFeatureName":"id","EventTimeFeatureName":"ts",
        "FeatureDefinitions":[{"FeatureName":"id","FeatureType":"String"},{"FeatureName":"ts","FeatureType":"String"}],
        "OnlineStoreConfig":{"EnableOnlineStore":true,"TtlDuration":{"Unit":"Days","Value":0}}}"#;
    let err = FeatureGroup::from_json(json).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "TtlDuration.Value"),
        "{err:?}"
    );
    let unit = json.replace(r#""Unit":"Days","Value":0"#, r#""Unit":"Months","Value":1"#);
    let err = FeatureGroup::from_json(&unit).unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    assert_mentions(&err, &["Months"]);
}
