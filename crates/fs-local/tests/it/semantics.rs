//! Store-level semantics beyond the OnlineStore contract (which fs-online runs).

use fs_local::{Error, Store};
use fs_schema::{DeletionMode, Record, TargetStore, TtlDuration, TtlUnit};

use crate::support::{group, record};

#[test]
fn a_batch_with_one_bad_record_writes_nothing_and_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let records = vec![
        record("1", "2024-01-01T00:00:00Z", 1),
        Record::new()
            .with("id", "2")
            .with("ts", "2024-01-01T00:00:00Z")
            .with("n", "seven"),
        record("3", "2024-01-01T00:00:00Z", 3),
    ];
    let err = store.put_records("g", &records, None, None).unwrap_err();
    let Error::InvalidRecord {
        index, record_id, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*index, record_id.as_deref()), (1, Some("2")));
    let msg = err.to_string();
    assert!(msg.contains("record 1 (identifier \"2\")"), "{msg}");
    assert!(msg.contains("\"n\"") && msg.contains("seven"), "{msg}");
    assert!(store.get_record("g", "1", None).unwrap().is_none());
    assert_eq!(store.outbox_len(), 0);
}

#[test]
fn within_a_batch_the_latest_event_time_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let records = vec![
        record("1", "2024-01-02T00:00:00Z", 2),
        record("1", "2024-01-01T00:00:00Z", 1),
    ];
    store.put_records("g", &records, None, None).unwrap();
    let got = store.get_record("g", "1", None).unwrap().unwrap();
    assert_eq!(got.record.get_str("n"), Some("2"));
    assert_eq!(store.outbox_len(), 2);
}

#[test]
fn expired_records_are_hidden_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let day = Some(TtlDuration::new(TtlUnit::Days, 1));
    // Event time long ago: already expired. Event time in 9999: not expired.
    store
        .put_record("g", &record("old", "2000-01-01T00:00:00Z", 1), None, day)
        .unwrap();
    store
        .put_record("g", &record("new", "9999-01-01T00:00:00Z", 1), None, day)
        .unwrap();
    assert!(store.get_record("g", "old", None).unwrap().is_none());
    let new = store.get_record("g", "new", None).unwrap().unwrap();
    assert_eq!(new.expires_at.unwrap().to_iso(), "9999-01-02T00:00:00.000Z");
    let page = store.list_records("g", true, 100, None).unwrap();
    assert_eq!(page.record_ids, ["new"]);
    assert_eq!(store.purge_expired().unwrap(), 1);
    assert_eq!(store.purge_expired().unwrap(), 0);
    // An expired record does not block an older put.
    store
        .put_record("g", &record("old", "1999-01-01T00:00:00Z", 5), None, None)
        .unwrap();
    assert_eq!(
        store
            .get_record("g", "old", None)
            .unwrap()
            .unwrap()
            .record
            .get_str("n"),
        Some("5")
    );
}

#[test]
fn list_records_refuses_foreign_tokens_and_bad_page_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    for n in [0, 101] {
        let err = store.list_records("g", false, n, None).unwrap_err();
        assert!(err.to_string().contains("MaxResults"), "{err}");
    }
    let err = store
        .list_records("g", false, 10, Some("nonsense"))
        .unwrap_err();
    assert!(err.to_string().contains("NextToken"), "{err}");
}

#[test]
fn deletes_validate_the_event_time_in_the_group_form() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let err = store
        .delete_record("g", "1", "yesterday", DeletionMode::SoftDelete, None)
        .unwrap_err();
    assert!(
        err.is_validation() && err.to_string().contains("yesterday"),
        "{err}"
    );
    assert_eq!(store.outbox_len(), 0);
}

#[test]
fn target_stores_must_exist_in_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut spec = group("g");
    spec.online_store_config = None;
    store.create_feature_group(spec).unwrap();
    let r = record("1", "2024-01-01T00:00:00Z", 1);
    let err = store
        .put_record("g", &r, Some(&[TargetStore::OnlineStore]), None)
        .unwrap_err();
    assert!(err.to_string().contains("no online store"), "{err}");
    let err = store.put_record("g", &r, Some(&[]), None).unwrap_err();
    assert!(err.to_string().contains("at least one store"), "{err}");
    store.put_record("g", &r, None, None).unwrap();
    assert_eq!(store.outbox_len(), 1);
    let err = store.get_record("g", "1", None).unwrap_err();
    assert!(err.to_string().contains("no online store"), "{err}");
}

#[test]
fn records_of_unknown_features_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let r: Record = record("1", "2024-01-01T00:00:00Z", 1).with("write_time", "x");
    let err = store.put_record("g", &r, None, None).unwrap_err();
    assert!(err.to_string().contains("write_time"), "{err}");
}
