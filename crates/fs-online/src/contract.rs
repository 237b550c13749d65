//! The `OnlineStore` contract (feature `test-util`): one plain async
//! function per behaviour, taking any implementation through a
//! [`Fixture`]. Every backend runs the same list, unchanged, with
//! [`contract_suite!`](crate::contract_suite), in the manner of
//! object_store's `integration` module:
//!
//! ```ignore
//! // In a backend's tests (fs-online's own run it on the embedded store
//! // and on AwsOnlineStore through fs-server):
//! fs_online::contract_suite!(fixture = MyFixture::new());
//! ```
//!
//! The caller's crate needs `tokio` (with `macros` and `rt-multi-thread`)
//! among its dev-dependencies: each behaviour is a `#[tokio::test]`.

/// Expands to one `#[tokio::test]` per contract function, each calling it
/// with the fixture `$make` builds (an expression, awaited if async), with
/// any extra attributes (such as `#[ignore = ...]`) on every test.
#[macro_export]
macro_rules! contract_suite {
    ($(#[$attr:meta])* fixture = $make:expr) => {
        $crate::contract_suite!(@each [$(#[$attr])*] ($make);
            put_then_get_returns_the_record,
            get_returns_typed_arrow_batches,
            missing_records_are_none,
            feature_selection_returns_only_those_features,
            unknown_features_are_validation_errors,
            invalid_records_are_refused_and_not_written,
            unknown_groups_are_not_found,
            the_latest_event_time_wins_online,
            an_equal_event_time_overwrites,
            soft_delete_hides_the_record_and_blocks_older_puts,
            a_soft_delete_older_than_the_record_leaves_it,
            hard_delete_removes_the_record_entirely,
            a_hard_delete_not_newer_than_the_record_is_refused,
            expired_records_are_not_returned,
            offline_only_writes_leave_the_online_store_alone,
            writing_to_a_store_the_group_lacks_is_refused,
            batch_get_spans_groups_keeps_request_order_and_reports_per_identifier,
            typed_batch_get_returns_rows_in_request_order,
            put_batch_writes_every_row,
            list_records_pages_through_every_identifier,
        );
    };
    (@each $attrs:tt ($make:expr); $($name:ident),* $(,)?) => {
        $( $crate::contract_suite!(@one $attrs ($make) $name); )*
    };
    (@one [$($attr:tt)*] ($make:expr) $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $name() {
            $crate::contract::$name(&$make).await;
        }
    };
}

use std::sync::Arc;

use crate::{DeleteOptions, OnlineStore, OnlineStoreExt, PutOptions};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_schema::DataType;
use async_trait::async_trait;
use fs_schema::runtime::BatchGetRequest;
use fs_schema::{
    FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record, TargetStore, TtlDuration, TtlUnit,
};

/// What the contract needs from a backend: the store under test, and a way
/// to create feature groups in it (through that backend's control plane).
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The store under test.
    fn store(&self) -> Arc<dyn OnlineStore>;
    /// Creates a feature group, ready for use when this returns.
    async fn create_group(&self, spec: FeatureGroup);
}

/// A group with both stores: id (String), ts (String), n (Integral), x
/// (Fractional), s (String). Names are unique per test so that fixtures
/// may share one server.
pub fn spec(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("n"),
            FeatureDefinition::fractional("x"),
            FeatureDefinition::string("s"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://contract-bucket/offline")
        .build()
        .unwrap()
}

fn rec(id: &str, ts: &str, n: i64) -> Record {
    Record::new()
        .with("id", id)
        .with("ts", ts)
        .with("n", n.to_string())
        .with("x", format!("{n}.25"))
        .with("s", format!("v{n}"))
}

async fn put(store: &dyn OnlineStore, group: &str, r: &Record) {
    store
        .put_record(group, r, &PutOptions::default())
        .await
        .unwrap();
}

async fn n_of(store: &dyn OnlineStore, group: &str, id: &str) -> Option<String> {
    store
        .get_record(group, id, None)
        .await
        .unwrap()
        .map(|r| r.record.get_str("n").unwrap().to_owned())
}

/// Checks that put then get returns the record.
pub async fn put_then_get_returns_the_record(f: &dyn Fixture) {
    f.create_group(spec("c-put-get")).await;
    let s = f.store();
    let r = rec("a", "2024-01-01T00:00:00Z", 7);
    put(s.as_ref(), "c-put-get", &r).await;
    let got = s.get_record("c-put-get", "a", None).await.unwrap().unwrap();
    for name in ["id", "ts", "n", "x", "s"] {
        assert_eq!(got.record.get(name), r.get(name), "feature {name}");
    }
    assert_eq!(got.event_time.to_iso(), "2024-01-01T00:00:00.000Z");
}

/// Checks that get returns typed arrow batches.
pub async fn get_returns_typed_arrow_batches(f: &dyn Fixture) {
    f.create_group(spec("c-typed")).await;
    let s = f.store();
    put(s.as_ref(), "c-typed", &rec("a", "2024-01-01T00:00:00Z", 7)).await;
    let batch = s.get("c-typed", "a", None).await.unwrap().unwrap();
    let types: Vec<DataType> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Utf8,
            DataType::Utf8,
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8
        ]
    );
    assert_eq!(batch.column(2).as_primitive::<Int64Type>().value(0), 7);
    assert_eq!(batch.column(3).as_primitive::<Float64Type>().value(0), 7.25);
    let only: Vec<String> = vec!["x".into(), "id".into()];
    let batch = s.get("c-typed", "a", Some(&only)).await.unwrap().unwrap();
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["x", "id"]);
    assert!(s.get("c-typed", "nobody", None).await.unwrap().is_none());
}

/// Checks that missing records are none.
pub async fn missing_records_are_none(f: &dyn Fixture) {
    f.create_group(spec("c-missing")).await;
    assert!(
        f.store()
            .get_record("c-missing", "nobody", None)
            .await
            .unwrap()
            .is_none()
    );
}

/// Checks that feature selection returns only those features.
pub async fn feature_selection_returns_only_those_features(f: &dyn Fixture) {
    f.create_group(spec("c-select")).await;
    let s = f.store();
    put(s.as_ref(), "c-select", &rec("a", "2024-01-01T00:00:00Z", 1)).await;
    let only = vec!["n".to_owned(), "s".to_owned()];
    let got = s
        .get_record("c-select", "a", Some(&only))
        .await
        .unwrap()
        .unwrap();
    let names: Vec<&str> = got
        .record
        .values()
        .iter()
        .map(|v| v.feature_name.as_str())
        .collect();
    assert_eq!(names, ["n", "s"]);
}

/// Checks that unknown features are validation errors.
pub async fn unknown_features_are_validation_errors(f: &dyn Fixture) {
    f.create_group(spec("c-unknown-feature")).await;
    let s = f.store();
    let err = s
        .get_record("c-unknown-feature", "a", Some(&["nope".to_owned()]))
        .await
        .unwrap_err();
    assert!(err.is_validation(), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
    let bad = rec("a", "2024-01-01T00:00:00Z", 1).with("nope", "1");
    let err = s
        .put_record("c-unknown-feature", &bad, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.is_validation() && err.to_string().contains("nope"),
        "{err}"
    );
}

/// Checks that invalid records are refused and not written.
pub async fn invalid_records_are_refused_and_not_written(f: &dyn Fixture) {
    f.create_group(spec("c-invalid")).await;
    let s = f.store();
    let bad = Record::new()
        .with("id", "a")
        .with("ts", "2024-01-01T00:00:00Z")
        .with("n", "1.5");
    let err = s
        .put_record("c-invalid", &bad, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_validation(), "{err}");
    assert!(err.to_string().contains("\"n\""), "{err}");
    let no_time = Record::new()
        .with("id", "a")
        .with("ts", "2024-01-01 00:00:00");
    let err = s
        .put_record("c-invalid", &no_time, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.is_validation() && err.to_string().contains("2024-01-01 00:00:00"),
        "{err}"
    );
    assert!(
        s.get_record("c-invalid", "a", None)
            .await
            .unwrap()
            .is_none()
    );
}

/// Checks that unknown groups are not found.
pub async fn unknown_groups_are_not_found(f: &dyn Fixture) {
    let s = f.store();
    let err = s
        .get_record("c-no-such-group", "a", None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = s
        .put_record(
            "c-no-such-group",
            &rec("a", "2024-01-01T00:00:00Z", 1),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_retryable());
}

/// Checks that the latest event time wins online.
pub async fn the_latest_event_time_wins_online(f: &dyn Fixture) {
    f.create_group(spec("c-latest")).await;
    let s = f.store();
    put(s.as_ref(), "c-latest", &rec("a", "2024-01-02T00:00:00Z", 2)).await;
    put(s.as_ref(), "c-latest", &rec("a", "2024-01-01T00:00:00Z", 1)).await;
    assert_eq!(
        n_of(s.as_ref(), "c-latest", "a").await.as_deref(),
        Some("2")
    );
    put(
        s.as_ref(),
        "c-latest",
        &rec("a", "2024-01-03T00:00:00.001Z", 3),
    )
    .await;
    assert_eq!(
        n_of(s.as_ref(), "c-latest", "a").await.as_deref(),
        Some("3")
    );
}

/// Checks that an equal event time overwrites.
pub async fn an_equal_event_time_overwrites(f: &dyn Fixture) {
    f.create_group(spec("c-equal")).await;
    let s = f.store();
    put(s.as_ref(), "c-equal", &rec("a", "2024-01-01T00:00:00Z", 1)).await;
    put(
        s.as_ref(),
        "c-equal",
        &rec("a", "2024-01-01T00:00:00.000Z", 2),
    )
    .await;
    assert_eq!(n_of(s.as_ref(), "c-equal", "a").await.as_deref(), Some("2"));
}

/// Checks that soft delete hides the record and blocks older puts.
pub async fn soft_delete_hides_the_record_and_blocks_older_puts(f: &dyn Fixture) {
    f.create_group(spec("c-soft")).await;
    let s = f.store();
    put(s.as_ref(), "c-soft", &rec("a", "2024-01-01T00:00:00Z", 1)).await;
    s.delete_record(
        "c-soft",
        "a",
        "2024-01-02T00:00:00Z",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    assert!(s.get_record("c-soft", "a", None).await.unwrap().is_none());
    // An older put than the delete does not bring it back; a newer one does.
    put(s.as_ref(), "c-soft", &rec("a", "2024-01-01T12:00:00Z", 2)).await;
    assert!(s.get_record("c-soft", "a", None).await.unwrap().is_none());
    put(s.as_ref(), "c-soft", &rec("a", "2024-01-03T00:00:00Z", 3)).await;
    assert_eq!(n_of(s.as_ref(), "c-soft", "a").await.as_deref(), Some("3"));
}

/// Checks that a soft delete older than the record leaves it.
pub async fn a_soft_delete_older_than_the_record_leaves_it(f: &dyn Fixture) {
    f.create_group(spec("c-soft-old")).await;
    let s = f.store();
    put(
        s.as_ref(),
        "c-soft-old",
        &rec("a", "2024-01-02T00:00:00Z", 1),
    )
    .await;
    s.delete_record(
        "c-soft-old",
        "a",
        "2024-01-01T00:00:00Z",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        n_of(s.as_ref(), "c-soft-old", "a").await.as_deref(),
        Some("1")
    );
}

/// Checks that hard delete removes the record entirely.
pub async fn hard_delete_removes_the_record_entirely(f: &dyn Fixture) {
    f.create_group(spec("c-hard")).await;
    let s = f.store();
    put(s.as_ref(), "c-hard", &rec("a", "2024-01-02T00:00:00Z", 1)).await;
    s.delete_record(
        "c-hard",
        "a",
        "2024-01-03T00:00:00Z",
        &DeleteOptions::hard(),
    )
    .await
    .unwrap();
    assert!(s.get_record("c-hard", "a", None).await.unwrap().is_none());
    // Nothing is left online, so even an older put is stored again.
    put(s.as_ref(), "c-hard", &rec("a", "2024-01-01T00:00:00Z", 5)).await;
    assert_eq!(n_of(s.as_ref(), "c-hard", "a").await.as_deref(), Some("5"));
}

/// Checks that a hard delete not newer than the record is refused.
pub async fn a_hard_delete_not_newer_than_the_record_is_refused(f: &dyn Fixture) {
    f.create_group(spec("c-hard-old")).await;
    let s = f.store();
    put(
        s.as_ref(),
        "c-hard-old",
        &rec("a", "2024-01-02T00:00:00Z", 1),
    )
    .await;
    for t in ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"] {
        let err = s
            .delete_record("c-hard-old", "a", t, &DeleteOptions::hard())
            .await
            .unwrap_err();
        assert!(err.is_validation(), "{t}: {err}");
        assert!(!err.is_retryable());
    }
    assert_eq!(
        n_of(s.as_ref(), "c-hard-old", "a").await.as_deref(),
        Some("1")
    );
}

/// Checks that expired records are not returned.
pub async fn expired_records_are_not_returned(f: &dyn Fixture) {
    let mut g = spec("c-ttl");
    g.online_store_config =
        Some(OnlineStoreConfig::enabled().with_ttl(TtlDuration::new(TtlUnit::Hours, 1)));
    f.create_group(g).await;
    let s = f.store();
    put(s.as_ref(), "c-ttl", &rec("old", "2001-01-01T00:00:00Z", 1)).await;
    put(s.as_ref(), "c-ttl", &rec("new", "9999-01-01T00:00:00Z", 2)).await;
    assert!(s.get_record("c-ttl", "old", None).await.unwrap().is_none());
    let got = s.get_record("c-ttl", "new", None).await.unwrap().unwrap();
    assert_eq!(got.expires_at.unwrap().to_iso(), "9999-01-01T01:00:00.000Z");
    // A per-record TTL overrides the group's.
    let week = PutOptions::default().ttl(TtlDuration::new(TtlUnit::Weeks, 1));
    s.put_record("c-ttl", &rec("week", "9999-01-01T00:00:00Z", 3), &week)
        .await
        .unwrap();
    let got = s.get_record("c-ttl", "week", None).await.unwrap().unwrap();
    assert_eq!(got.expires_at.unwrap().to_iso(), "9999-01-08T00:00:00.000Z");
}

/// Checks that offline only writes leave the online store alone.
pub async fn offline_only_writes_leave_the_online_store_alone(f: &dyn Fixture) {
    f.create_group(spec("c-targets")).await;
    let s = f.store();
    let offline = PutOptions::default().target_stores([TargetStore::OfflineStore]);
    s.put_record("c-targets", &rec("a", "2024-01-01T00:00:00Z", 1), &offline)
        .await
        .unwrap();
    assert!(
        s.get_record("c-targets", "a", None)
            .await
            .unwrap()
            .is_none()
    );
    let online = PutOptions::default().target_stores([TargetStore::OnlineStore]);
    s.put_record("c-targets", &rec("a", "2024-01-01T00:00:00Z", 2), &online)
        .await
        .unwrap();
    assert_eq!(
        n_of(s.as_ref(), "c-targets", "a").await.as_deref(),
        Some("2")
    );
    let del = DeleteOptions::default().target_stores([TargetStore::OfflineStore]);
    s.delete_record("c-targets", "a", "2024-01-02T00:00:00Z", &del)
        .await
        .unwrap();
    assert_eq!(
        n_of(s.as_ref(), "c-targets", "a").await.as_deref(),
        Some("2")
    );
}

/// Checks that writing to a store the group lacks is refused.
pub async fn writing_to_a_store_the_group_lacks_is_refused(f: &dyn Fixture) {
    let mut g = spec("c-no-offline");
    g.offline_store_config = None;
    f.create_group(g).await;
    let s = f.store();
    let offline = PutOptions::default().target_stores([TargetStore::OfflineStore]);
    let err = s
        .put_record(
            "c-no-offline",
            &rec("a", "2024-01-01T00:00:00Z", 1),
            &offline,
        )
        .await
        .unwrap_err();
    assert!(err.is_validation(), "{err}");
}

/// Checks that batch get spans groups keeps request order and reports per identifier.
pub async fn batch_get_spans_groups_keeps_request_order_and_reports_per_identifier(
    f: &dyn Fixture,
) {
    f.create_group(spec("c-batch-a")).await;
    f.create_group(spec("c-batch-b")).await;
    let s = f.store();
    for i in 0..250 {
        put(
            s.as_ref(),
            "c-batch-a",
            &rec(&format!("a{i:03}"), "2024-01-01T00:00:00Z", i),
        )
        .await;
    }
    put(
        s.as_ref(),
        "c-batch-b",
        &rec("b1", "2024-01-01T00:00:00Z", 1),
    )
    .await;
    // 250 ids in one entry (more than one API call's worth), in reverse order, with a gap.
    let mut ids: Vec<String> = (0..250).rev().map(|i| format!("a{i:03}")).collect();
    ids.insert(10, "missing".into());
    let requests = vec![
        BatchGetRequest {
            group: "c-batch-a".into(),
            record_ids: ids.clone(),
            features: None,
        },
        BatchGetRequest {
            group: "c-batch-b".into(),
            record_ids: vec!["b1".into()],
            features: Some(vec!["n".into()]),
        },
        BatchGetRequest {
            group: "c-batch-none".into(),
            record_ids: vec!["z1".into(), "z2".into()],
            features: None,
        },
    ];
    let result = s.batch_get_records(&requests).await.unwrap();
    let got: Vec<(&str, &str)> = result
        .records
        .iter()
        .map(|r| (r.group.as_str(), r.record_id.as_str()))
        .collect();
    let mut want: Vec<(&str, &str)> = ids
        .iter()
        .filter(|i| *i != "missing")
        .map(|i| ("c-batch-a", i.as_str()))
        .collect();
    want.push(("c-batch-b", "b1"));
    assert_eq!(got, want);
    let b1 = &result.records.last().unwrap().record.record;
    assert_eq!(b1.len(), 1);
    assert_eq!(b1.get_str("n"), Some("1"));
    let errors: Vec<(&str, &str)> = result
        .errors
        .iter()
        .map(|e| (e.group.as_str(), e.record_id.as_str()))
        .collect();
    assert_eq!(errors, [("c-batch-none", "z1"), ("c-batch-none", "z2")]);
    assert!(result.errors.iter().all(|e| e.code == "ResourceNotFound"));
}

/// Checks that typed batch get returns rows in request order.
pub async fn typed_batch_get_returns_rows_in_request_order(f: &dyn Fixture) {
    f.create_group(spec("c-typed-batch")).await;
    let s = f.store();
    for i in 0..5 {
        put(
            s.as_ref(),
            "c-typed-batch",
            &rec(&format!("k{i}"), "2024-01-01T00:00:00Z", i),
        )
        .await;
    }
    let ids: Vec<String> = ["k3", "k0", "zz", "k4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = s.batch_get("c-typed-batch", &ids, None).await.unwrap();
    assert_eq!(out.record_ids, ["k3", "k0", "k4"]);
    assert_eq!(out.missing, ["zz"]);
    assert_eq!(
        out.batch.column(2).as_primitive::<Int64Type>().values(),
        &[3, 0, 4]
    );
}

/// Checks that put batch writes every row.
pub async fn put_batch_writes_every_row(f: &dyn Fixture) {
    f.create_group(spec("c-put-batch")).await;
    let s = f.store();
    let group = s.feature_group("c-put-batch").await.unwrap();
    let records: Vec<Record> = (0..20)
        .map(|i| rec(&format!("p{i}"), "2024-01-01T00:00:00Z", i))
        .collect();
    let batch = fs_schema::records_to_batch(&group, &records).unwrap();
    let written = s
        .put_batch("c-put-batch", &batch, &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(written, 20);
    assert_eq!(
        n_of(s.as_ref(), "c-put-batch", "p19").await.as_deref(),
        Some("19")
    );
}

/// Checks that list records pages through every identifier.
pub async fn list_records_pages_through_every_identifier(f: &dyn Fixture) {
    f.create_group(spec("c-list")).await;
    let s = f.store();
    for i in 0..25 {
        put(
            s.as_ref(),
            "c-list",
            &rec(&format!("r{i:02}"), "2024-01-01T00:00:00Z", i),
        )
        .await;
    }
    s.delete_record(
        "c-list",
        "r05",
        "2024-01-02T00:00:00Z",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_records("c-list", false, 10, token.as_deref())
            .await
            .unwrap();
        assert!(page.record_ids.len() <= 10);
        seen.extend(page.record_ids);
        pages += 1;
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let want: Vec<String> = (0..25)
        .filter(|i| *i != 5)
        .map(|i| format!("r{i:02}"))
        .collect();
    assert_eq!(seen, want);
    assert_eq!(pages, 3);
    let all = s.list_records("c-list", true, 100, None).await.unwrap();
    assert_eq!(all.record_ids.len(), 25);
    assert!(all.next_token.is_none());
}
