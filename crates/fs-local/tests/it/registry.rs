//! The registry: create, describe, list, evolve, delete, persistence, locking.

use fs_local::{Error, Store};
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};

use crate::support::{group, record};

#[test]
fn groups_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_feature_group(group("a")).unwrap();
        store.create_feature_group(group("b")).unwrap();
        store.close().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let names: Vec<_> = store
        .list_feature_groups()
        .iter()
        .map(|d| d.spec.feature_group_name.clone())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let a = store.describe_feature_group("a").unwrap();
    assert_eq!(
        a.arn,
        "arn:aws:sagemaker:us-east-1:000000000000:feature-group/a"
    );
    assert_eq!(a.status.as_str(), "Created");
    let off = a.spec.offline_store_config.as_ref().unwrap();
    let resolved = off
        .s3_storage_config
        .resolved_output_s3_uri
        .as_deref()
        .unwrap();
    assert!(
        resolved.starts_with("s3://"),
        "as the service reports it: {resolved}"
    );
    assert!(
        resolved
            .starts_with("s3://bucket/prefix/000000000000/sagemaker/us-east-1/offline-store/a-")
            && resolved.ends_with("/data"),
        "{resolved}"
    );
    assert!(resolved.ends_with("/data"), "{resolved}");
    assert_eq!(
        off.data_catalog_config.as_ref().unwrap().database,
        "sagemaker_featurestore"
    );
}

#[test]
fn creating_an_existing_group_fails_and_keeps_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("a")).unwrap();
    let err = store.create_feature_group(group("a")).unwrap_err();
    assert!(matches!(err, Error::GroupExists { .. }), "{err}");
    assert_eq!(store.list_feature_groups().len(), 1);
}

#[test]
fn invalid_groups_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut bad = group("ok");
    bad.feature_group_name = "../escape".into();
    let err = store.create_feature_group(bad).unwrap_err();
    assert!(err.is_validation(), "{err}");
    assert!(err.to_string().contains("../escape"), "{err}");
    assert!(store.list_feature_groups().is_empty());
    // Nothing was created outside (or inside) the store for it.
    assert!(!dir.path().parent().unwrap().join("escape").exists());
    assert!(!dir.path().join("offline").exists());
}

#[test]
fn unknown_names_cannot_reach_outside_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for name in ["../x", "/etc/passwd", "a/../../b", ""] {
        let err = store.describe_feature_group(name).unwrap_err();
        assert!(err.is_not_found(), "{name}: {err}");
        let err = store
            .put_record(name, &record("1", "2024-01-01T00:00:00Z", 1), None, None)
            .unwrap_err();
        assert!(err.is_not_found(), "{name}: {err}");
    }
}

#[test]
fn a_second_writer_gets_a_clear_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("in use by another writer"), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    drop(first);
    Store::open(dir.path()).unwrap();
}

#[test]
fn adding_features_evolves_the_group_and_old_records_read_null() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    store
        .put_record("g", &record("1", "2024-01-01T00:00:00Z", 1), None, None)
        .unwrap();
    let desc = store
        .add_features("g", &[FeatureDefinition::string("city")])
        .unwrap();
    assert!(desc.spec.feature("city").is_some());
    assert!(desc.last_modified_time.is_some());
    let got = store.get_record("g", "1", None).unwrap().unwrap();
    assert_eq!(got.record.get("city"), None);
    let new = record("2", "2024-01-01T00:00:00Z", 2).with("city", "Oslo");
    store.put_record("g", &new, None, None).unwrap();
    assert_eq!(
        store
            .get_record("g", "2", None)
            .unwrap()
            .unwrap()
            .record
            .get_str("city"),
        Some("Oslo")
    );
    // Refused changes leave the group as it was.
    let err = store
        .add_features("g", &[FeatureDefinition::integral("N")])
        .unwrap_err();
    assert!(err.to_string().contains("duplicate"), "{err}");
    assert_eq!(
        store
            .describe_feature_group("g")
            .unwrap()
            .spec
            .feature_definitions
            .len(),
        5
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(
        store
            .describe_feature_group("g")
            .unwrap()
            .spec
            .feature("city")
            .is_some()
    );
}

#[test]
fn deleting_a_group_removes_its_online_records_and_keeps_offline_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    store.create_feature_group(group("h")).unwrap();
    store
        .put_record("g", &record("1", "2024-01-01T00:00:00Z", 1), None, None)
        .unwrap();
    store
        .put_record("h", &record("1", "2024-01-01T00:00:00Z", 1), None, None)
        .unwrap();
    let offline = store.offline_data_dir("g").unwrap().unwrap();
    store.delete_feature_group("g").unwrap();
    assert!(
        store
            .describe_feature_group("g")
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        crate::support::offline_id_counts(&offline).get("1"),
        Some(&1)
    );
    // The other group is untouched.
    assert!(store.get_record("h", "1", None).unwrap().is_some());
    // A new group of the same name starts empty.
    store.create_feature_group(group("g")).unwrap();
    assert!(store.get_record("g", "1", None).unwrap().is_none());
}

#[test]
fn online_only_groups_have_no_offline_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let spec = FeatureGroup::builder("o", "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap();
    store.create_feature_group(spec).unwrap();
    assert_eq!(store.offline_data_dir("o").unwrap(), None);
    store
        .put_record(
            "o",
            &fs_schema::Record::new()
                .with("id", "1")
                .with("ts", "2024-01-01T00:00:00Z"),
            None,
            None,
        )
        .unwrap();
    assert_eq!(store.outbox_len(), 0);
}

/// The embedded store keeps the registry contract every backend keeps
/// (`fs_schema::registry::contract`).
#[tokio::test]
async fn keeps_the_registry_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    fs_schema::registry::contract::run_all(&store, "contract").await;
}
