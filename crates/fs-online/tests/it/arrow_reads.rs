//! `LocalOnlineStore`'s Arrow reads decode stored values straight into
//! Arrow: they must give exactly what converting the records of the record
//! path gives, for text-encoded (PutRecord) and typed (batch put) values.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use fs_online::{LocalOnlineStore, OnlineStore, OnlineStoreExt};
use fs_schema::runtime::BatchGetRequest;
use fs_schema::{
    Collection, DeletionMode, FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record,
    StorageType, TtlDuration, TtlUnit, records_to_batch,
};

fn group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("n"),
            FeatureDefinition::fractional("x"),
            FeatureDefinition::string("s"),
            FeatureDefinition::string("tags").with_collection(Collection::List),
        ])
        .online_store(
            OnlineStoreConfig::enabled()
                .with_storage_type(StorageType::InMemory)
                .with_ttl(TtlDuration::new(TtlUnit::Hours, 1)),
        )
        .build()
        .unwrap()
}

fn text_record(id: &str, ts: &str, n: i64) -> Record {
    Record::new()
        .with("id", id)
        .with("ts", ts)
        .with("n", n.to_string())
        .with("x", format!("{}", n as f64 / 3.0))
        .with("tags", vec![format!("t{n}"), "u".to_owned()])
}

/// Rows `ids` (the `s` feature left null in the second row) as a batch put.
fn typed_batch(ids: &[&str]) -> RecordBatch {
    let (mut id, mut ts, mut n, mut x, mut s) = (
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        Float64Builder::new(),
        StringBuilder::new(),
    );
    let mut tags = ListBuilder::new(StringBuilder::new());
    for (i, r) in ids.iter().enumerate() {
        id.append_value(r);
        ts.append_value("9999-01-01T00:00:00Z");
        n.append_value(-7 * i as i64 - 1);
        x.append_value(0.1 + i as f64);
        s.append_option((i != 1).then(|| format!("typed {i}")));
        tags.values().append_value("v");
        tags.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(ts.finish()),
        Arc::new(n.finish()),
        Arc::new(x.finish()),
        Arc::new(s.finish()),
        Arc::new(tags.finish()),
    ];
    let item = Arc::new(Field::new("item", DataType::Utf8, true));
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ts", DataType::Utf8, false),
        Field::new("n", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("tags", DataType::List(item), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    local: Arc<fs_local::Store>,
    online: LocalOnlineStore,
}

/// A group `g` holding text records `a` `b` `c` (`c` without `x`), typed
/// records `p` `q` `r` (`q` without `s`), an expired record `old` and a
/// soft-deleted record `gone`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(fs_local::Store::open(dir.path()).unwrap());
    local.create_feature_group(group("g")).unwrap();
    for (id, n) in [("a", 1), ("b", 2), ("gone", 4)] {
        let r = text_record(id, "9999-01-01T00:00:00Z", n);
        local.put_record("g", &r, None, None).unwrap();
    }
    let c = Record::new()
        .with("id", "c")
        .with("ts", "9999-01-01T00:00:00Z")
        .with("n", "3")
        .with("s", "only text");
    local.put_record("g", &c, None, None).unwrap();
    let old = text_record("old", "2001-01-01T00:00:00Z", 5);
    local.put_record("g", &old, None, None).unwrap();
    local
        .delete_record(
            "g",
            "gone",
            "9999-01-02T00:00:00Z",
            DeletionMode::SoftDelete,
            None,
        )
        .unwrap();
    let written = local
        .put_batch("g", &typed_batch(&["p", "q", "r"]), &Default::default())
        .unwrap();
    assert!(written.refused.is_empty(), "{:?}", written.refused);
    let online = LocalOnlineStore::new(local.clone());
    Fixture {
        _dir: dir,
        local,
        online,
    }
}

/// The batch the record path gives: `records_to_batch` over the records
/// of `batch_get_records`, in request order, and the identifiers found.
async fn via_records(
    f: &Fixture,
    ids: &[String],
    features: Option<&[String]>,
) -> (RecordBatch, Vec<String>) {
    let request = BatchGetRequest {
        group: "g".into(),
        record_ids: ids.to_vec(),
        features: features.map(<[String]>::to_vec),
    };
    let result = f
        .online
        .batch_get_records(std::slice::from_ref(&request))
        .await
        .unwrap();
    let spec = f.local.describe_feature_group("g").unwrap().spec.clone();
    let view = match features {
        Some(fs) => spec.project(fs).unwrap(),
        None => spec,
    };
    let records: Vec<Record> = result
        .records
        .iter()
        .map(|r| r.record.record.clone())
        .collect();
    let found = result.records.iter().map(|r| r.record_id.clone()).collect();
    (records_to_batch(&view, &records).unwrap(), found)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn batch_get_equals_the_record_path_for_text_and_typed_values() {
    let f = fixture();
    // Typed and text values mixed in one batch (typed first, so numbers
    // start typed), missing, expired, deleted and repeated identifiers.
    let ids = strings(&["p", "a", "nobody", "c", "old", "q", "gone", "a", "r", "b"]);
    let out = f.online.batch_get("g", &ids, None).await.unwrap();
    let (expected, found) = via_records(&f, &ids, None).await;
    assert_eq!(out.batch, expected);
    assert_eq!(out.record_ids, found);
    assert_eq!(
        out.record_ids,
        strings(&["p", "a", "c", "q", "a", "r", "b"])
    );
    assert_eq!(out.missing, strings(&["nobody", "old", "gone"]));
    assert!(out.errors.is_empty());

    // Only typed values: numbers never go through text.
    let typed = strings(&["r", "q", "p"]);
    let out = f.online.batch_get("g", &typed, None).await.unwrap();
    assert_eq!(out.batch, via_records(&f, &typed, None).await.0);
}

#[tokio::test]
async fn projections_keep_the_asked_order_and_only_those_features() {
    let f = fixture();
    let ids = strings(&["b", "q", "c", "nobody", "p"]);
    let features = strings(&["x", "tags", "id"]);
    let out = f
        .online
        .batch_get("g", &ids, Some(&features))
        .await
        .unwrap();
    let (expected, found) = via_records(&f, &ids, Some(&features)).await;
    assert_eq!(out.batch, expected);
    assert_eq!(out.record_ids, found);
    let names: Vec<_> = out
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, features);
    assert_eq!(out.missing, strings(&["nobody"]));
}

#[tokio::test]
async fn get_equals_the_one_row_of_the_record_path() {
    let f = fixture();
    for id in ["a", "c", "p", "q"] {
        let got = f.online.get("g", id, None).await.unwrap().unwrap();
        assert_eq!(got, via_records(&f, &strings(&[id]), None).await.0, "{id}");
        let only = strings(&["s", "n"]);
        let got = f.online.get("g", id, Some(&only)).await.unwrap().unwrap();
        let expected = via_records(&f, &strings(&[id]), Some(&only)).await.0;
        assert_eq!(got, expected, "{id} projected");
    }
    for id in ["nobody", "old", "gone"] {
        assert!(f.online.get("g", id, None).await.unwrap().is_none(), "{id}");
    }
}

#[tokio::test]
async fn failures_are_those_of_the_record_path() {
    let f = fixture();
    let ids = strings(&["a", "p"]);
    // An unknown group fails the call.
    assert!(f.online.batch_get("nope", &ids, None).await.is_err());
    assert!(f.online.get("nope", "a", None).await.is_err());
    // An unknown feature fails the call.
    let bad = strings(&["n", "zzz"]);
    let err = f.online.batch_get("g", &ids, Some(&bad)).await.unwrap_err();
    assert!(err.to_string().contains("zzz"), "{err}");
    assert!(f.online.get("g", "a", Some(&bad)).await.is_err());
    // A group without an online store fails every identifier.
    let offline_only = FeatureGroup::builder("offline-only", "id", "ts")
        // Collections need an in-memory online store.
        .features(group("offline-only").feature_definitions[..5].to_vec())
        .offline_store_s3_uri("s3://bucket/offline")
        .build()
        .unwrap();
    f.local.create_feature_group(offline_only).unwrap();
    let out = f
        .online
        .batch_get("offline-only", &ids, None)
        .await
        .unwrap();
    assert_eq!(out.batch.num_rows(), 0);
    assert!(out.missing.is_empty());
    let failed: Vec<_> = out.errors.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(failed, ids);
}
