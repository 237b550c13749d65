//! Batch puts (`Store::put_batch`): typed Arrow rows written without
//! per-row records, with the semantics of `put_records`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use fs_local::{BatchOptions, Store, StoreOptions};
use fs_schema::{FeatureDefinition, Record, TargetStore, TtlDuration, TtlUnit};

use crate::support::{group, offline_id_counts, parquet_files, read_parquet, record};

/// One row of `support::group`: (id, ts, n, x); `None` is null.
pub(crate) type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<i64>, Option<f64>);

/// A batch typed as `support::group`.
pub(crate) fn batch(rows: &[Row<'_>]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "ts",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "n",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "x",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions::default().flush_threshold_rows(u64::MAX),
    )
    .unwrap();
    store.create_feature_group(group("g")).unwrap();
    (dir, store)
}

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-01-02T00:00:00Z";

#[test]
fn a_batch_reads_back_as_the_same_records_put_one_by_one() {
    let (_d1, by_batch) = open();
    let (_d2, by_record) = open();
    let rows = [
        (Some("a"), Some(T1), Some(1), Some(0.5)),
        (
            Some("b"),
            Some("2024-01-01T10:30:00.250Z"),
            None,
            Some(-2.0),
        ),
        (Some("c"), Some(T2), Some(i64::MIN), None),
    ];
    let b = batch(&rows);
    let w = by_batch
        .put_batch("g", &b, &BatchOptions::default())
        .unwrap();
    assert_eq!((w.rows_written, w.refused.len(), w.replayed), (3, 0, false));
    let records = fs_schema::batch_to_records(&b).unwrap();
    by_record.put_records("g", &records, None, None).unwrap();
    for id in ["a", "b", "c"] {
        let x = by_batch.get_record("g", id, None).unwrap().unwrap();
        let y = by_record.get_record("g", id, None).unwrap().unwrap();
        assert_eq!(x, y, "record {id}");
    }
    assert_eq!(
        by_batch.get_record("g", "c", None).unwrap().unwrap().record,
        Record::new()
            .with("id", "c")
            .with("ts", T2)
            .with("n", i64::MIN.to_string())
    );
    // Offline: the same rows, typed, in the same files.
    let (fa, fb) = (by_batch.flush().unwrap(), by_record.flush().unwrap());
    assert_eq!((fa.rows, fa.files.len()), (3, 3));
    assert_eq!(fb.files.len(), 3);
    for (a, b) in fa.files.iter().zip(&fb.files) {
        let (a, b) = (&read_parquet(a)[0], &read_parquet(b)[0]);
        assert_eq!(a.schema(), b.schema());
        for c in 0..4 {
            assert_eq!(a.column(c), b.column(c), "column {c}");
        }
        assert!(a.column(6).as_boolean().iter().all(|d| d == Some(false)));
    }
}

#[test]
fn bad_rows_are_refused_alone_and_named() {
    let (_d, store) = open();
    let huge = "x".repeat(351 * 1024);
    let b = batch(&[
        (Some("ok1"), Some(T1), Some(1), Some(1.0)),
        (None, Some(T1), Some(2), None),
        (Some("bad-time"), Some("yesterday"), Some(3), None),
        (Some("nan"), Some(T1), Some(4), Some(f64::NAN)),
        (Some(huge.as_str()), Some(T1), None, None),
        (Some("no-time"), None, None, None),
        (Some("ok2"), Some(T2), Some(7), Some(7.0)),
    ]);
    let w = store.put_batch("g", &b, &BatchOptions::default()).unwrap();
    assert_eq!(w.rows_written, 2);
    let refused: Vec<(usize, Option<&str>)> = w
        .refused
        .iter()
        .map(|r| (r.row, r.record_id.as_deref().filter(|id| id.len() < 100)))
        .collect();
    assert_eq!(
        refused,
        [
            (1, None),
            (2, Some("bad-time")),
            (3, Some("nan")),
            (4, None),
            (5, Some("no-time"))
        ]
    );
    let reasons: Vec<String> = w.refused.iter().map(|r| r.to_string()).collect();
    assert!(
        reasons[0].contains("no record identifier"),
        "{}",
        reasons[0]
    );
    assert!(reasons[1].contains("yesterday"), "{}", reasons[1]);
    assert!(
        reasons[2].contains("\"x\"") && reasons[2].contains("finite"),
        "{}",
        reasons[2]
    );
    assert!(reasons[3].contains("2048"), "{}", reasons[3]);
    assert!(reasons[4].contains("no event time"), "{}", reasons[4]);
    assert!(store.get_record("g", "ok1", None).unwrap().is_some());
    assert!(store.get_record("g", "ok2", None).unwrap().is_some());
    assert!(store.get_record("g", "nan", None).unwrap().is_none());
    assert_eq!(store.outbox_len(), 2);
    store.flush().unwrap();
    let counts = offline_id_counts(&store.offline_data_dir("g").unwrap().unwrap());
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["ok1", "ok2"]);
}

#[test]
fn batches_that_do_not_fit_the_group_write_nothing() {
    let (_d, store) = open();
    let ok = batch(&[(Some("a"), Some(T1), Some(1), None)]);
    let cases: Vec<(RecordBatch, &str)> = vec![
        (
            RecordBatch::try_from_iter([
                ("id", ok.column(0).clone()),
                ("ts", ok.column(1).clone()),
                ("city", ok.column(0).clone()),
            ])
            .unwrap(),
            "\"city\" is not a feature",
        ),
        (
            RecordBatch::try_from_iter([
                ("id", ok.column(0).clone()),
                ("ts", ok.column(1).clone()),
                ("n", ok.column(0).clone()),
            ])
            .unwrap(),
            "column \"n\"",
        ),
        (
            RecordBatch::try_from_iter([("ts", ok.column(1).clone())]).unwrap(),
            "no record identifier column \"id\"",
        ),
    ];
    for (b, expected) in cases {
        let err = store
            .put_batch("g", &b, &BatchOptions::default())
            .unwrap_err();
        assert!(err.is_validation(), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let err = store
        .put_batch("nope", &ok, &BatchOptions::default())
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(store.get_record("g", "a", None).unwrap().is_none());
    assert_eq!(store.outbox_len(), 0);
    // A batch without the optional features writes them as null.
    let narrow =
        RecordBatch::try_from_iter([("id", ok.column(0).clone()), ("ts", ok.column(1).clone())])
            .unwrap();
    store
        .put_batch("g", &narrow, &BatchOptions::default())
        .unwrap();
    let got = store.get_record("g", "a", None).unwrap().unwrap();
    assert_eq!(got.record, Record::new().with("id", "a").with("ts", T1));
}

#[test]
fn the_latest_event_time_wins_online_and_every_row_goes_offline() {
    let (_d, store) = open();
    let opts = BatchOptions::default();
    store
        .put_batch("g", &batch(&[(Some("a"), Some(T2), Some(2), None)]), &opts)
        .unwrap();
    // Older (kept offline only), then, within one batch, two newer rows: the later wins on a tie.
    store
        .put_batch(
            "g",
            &batch(&[
                (Some("a"), Some(T1), Some(1), None),
                (Some("a"), Some("2024-01-03T00:00:00Z"), Some(3), None),
                (Some("a"), Some("2024-01-03T00:00:00Z"), Some(4), None),
            ]),
            &opts,
        )
        .unwrap();
    let n = |s: &Store| {
        s.get_record("g", "a", None)
            .unwrap()
            .unwrap()
            .record
            .get_str("n")
            .map(str::to_owned)
    };
    assert_eq!(n(&store).as_deref(), Some("4"));
    store
        .put_batch("g", &batch(&[(Some("a"), Some(T2), Some(5), None)]), &opts)
        .unwrap();
    assert_eq!(
        n(&store).as_deref(),
        Some("4"),
        "an older put leaves the record"
    );
    store.flush().unwrap();
    let data = store.offline_data_dir("g").unwrap().unwrap();
    assert_eq!(offline_id_counts(&data).get("a"), Some(&5));
    // Rows keep their order within each partition file.
    let mut ns = Vec::new();
    for f in parquet_files(&data) {
        for b in read_parquet(&f) {
            ns.extend(
                b.column(2)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
    }
    assert_eq!(ns, [1, 2, 5, 3, 4]);
}

#[test]
fn ttl_and_target_stores_apply_to_batches() {
    let (_d, store) = open();
    let day = TtlDuration::new(TtlUnit::Days, 1);
    let b = batch(&[
        (Some("old"), Some("2000-01-01T00:00:00Z"), Some(1), None),
        (Some("new"), Some("9999-01-01T00:00:00Z"), Some(1), None),
    ]);
    store
        .put_batch("g", &b, &BatchOptions::default().ttl(day))
        .unwrap();
    assert!(
        store.get_record("g", "old", None).unwrap().is_none(),
        "expired"
    );
    let new = store.get_record("g", "new", None).unwrap().unwrap();
    assert_eq!(new.expires_at.unwrap().to_iso(), "9999-01-02T00:00:00.000Z");
    // An expired record does not block an older put.
    store
        .put_batch(
            "g",
            &batch(&[(Some("old"), Some("1999-01-01T00:00:00Z"), Some(5), None)]),
            &BatchOptions::default(),
        )
        .unwrap();
    assert!(store.get_record("g", "old", None).unwrap().is_some());

    let online_only = BatchOptions::default().target_stores([TargetStore::OnlineStore]);
    let before = store.outbox_len();
    store
        .put_batch(
            "g",
            &batch(&[(Some("on"), Some(T1), None, None)]),
            &online_only,
        )
        .unwrap();
    assert_eq!(store.outbox_len(), before);
    assert!(store.get_record("g", "on", None).unwrap().is_some());
    let offline_only = BatchOptions::default().target_stores([TargetStore::OfflineStore]);
    store
        .put_batch(
            "g",
            &batch(&[(Some("off"), Some(T1), None, None)]),
            &offline_only,
        )
        .unwrap();
    assert_eq!(store.outbox_len(), before + 1);
    assert!(store.get_record("g", "off", None).unwrap().is_none());
    let err = store
        .put_batch("g", &b, &BatchOptions::default().target_stores([]))
        .unwrap_err();
    assert!(err.to_string().contains("at least one store"), "{err}");
}

#[test]
fn a_batch_sent_again_with_its_key_is_not_written_twice() {
    let (_d, store) = open();
    let b = batch(&[
        (Some("a"), Some(T1), Some(1), None),
        (None, Some(T1), Some(2), None),
        (Some("c"), Some(T1), Some(3), None),
    ]);
    let keyed = BatchOptions::default().idempotency_key("ingest/1/f/3");
    let first = store.put_batch("g", &b, &keyed).unwrap();
    assert_eq!((first.rows_written, first.replayed), (2, false));
    let again = store.put_batch("g", &b, &keyed).unwrap();
    assert_eq!((again.rows_written, again.replayed), (2, true));
    assert_eq!(again.refused.len(), 1, "the same rows are refused again");
    assert_eq!(store.outbox_len(), 2);
    // Another key writes; forgetting the keys of an ingest lets its batches be written again.
    let other = store
        .put_batch(
            "g",
            &b,
            &BatchOptions::default().idempotency_key("ingest/2/f/3"),
        )
        .unwrap();
    assert!(!other.replayed);
    assert_eq!(store.outbox_len(), 4);
    assert_eq!(store.forget_idempotency_keys("ingest/1/").unwrap(), 1);
    assert_eq!(store.forget_idempotency_keys("ingest/1/").unwrap(), 0);
    assert!(!store.put_batch("g", &b, &keyed).unwrap().replayed);
    assert!(
        store
            .put_batch(
                "g",
                &b,
                &BatchOptions::default().idempotency_key("ingest/2/f/3")
            )
            .unwrap()
            .replayed
    );
    assert_eq!(store.outbox_len(), 6);
}

#[test]
fn keys_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(&[(Some("a"), Some(T1), Some(1), None)]);
    let keyed = BatchOptions::default().idempotency_key("k");
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_feature_group(group("g")).unwrap();
        store.put_batch("g", &b, &keyed).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.outbox_len(),
        1,
        "rows counted from the outbox on open"
    );
    assert!(store.put_batch("g", &b, &keyed).unwrap().replayed);
    store.flush().unwrap();
    let counts = offline_id_counts(&store.offline_data_dir("g").unwrap().unwrap());
    assert_eq!(counts.get("a"), Some(&1));
}

#[test]
fn a_flush_joins_rows_batches_and_deletes_across_hours_and_added_features() {
    let (_d, store) = open();
    store
        .put_record("g", &record("r1", "2024-05-01T10:15:00Z", 1), None, None)
        .unwrap();
    // Rows of one batch in two hours, interleaved.
    store
        .put_batch(
            "g",
            &batch(&[
                (Some("b1"), Some("2024-05-01T11:00:00Z"), Some(2), None),
                (Some("b2"), Some("2024-05-01T10:59:59.999Z"), Some(3), None),
                (Some("b3"), Some("2024-05-01T11:30:00Z"), Some(4), None),
                (Some("b4"), Some("2024-05-01T10:00:00Z"), Some(5), None),
            ]),
            &BatchOptions::default(),
        )
        .unwrap();
    store
        .delete_record(
            "g",
            "r1",
            "2024-05-01T10:20:00Z",
            fs_schema::DeletionMode::SoftDelete,
            None,
        )
        .unwrap();
    // Features added after the rows were put read as null offline.
    store
        .add_features("g", &[FeatureDefinition::string("city")])
        .unwrap();
    // Online values of batch puts name features by position: still right.
    let b1 = store.get_record("g", "b1", None).unwrap().unwrap();
    assert_eq!(
        b1.record,
        Record::new()
            .with("id", "b1")
            .with("ts", "2024-05-01T11:00:00Z")
            .with("n", "2")
    );
    let projected = store
        .get_record("g", "b1", Some(&["n".to_owned(), "city".to_owned()]))
        .unwrap()
        .unwrap();
    assert_eq!(projected.record, Record::new().with("n", "2"));
    let report = store.flush().unwrap();
    assert_eq!((report.rows, report.files.len()), (6, 2));
    let hour10 = &read_parquet(&report.files[0])[0];
    let hour11 = &read_parquet(&report.files[1])[0];
    let ids = |b: &RecordBatch| -> Vec<String> {
        b.column(0)
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(hour10), ["r1", "b2", "b4", "r1"]);
    assert_eq!(ids(hour11), ["b1", "b3"]);
    assert_eq!(hour10.schema().field(4).name(), "city");
    assert_eq!(hour10.column(4).null_count(), 4);
    let deleted: Vec<bool> = hour10
        .column(7)
        .as_boolean()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(deleted, [false, false, false, true]);
    assert!(
        report.files[0]
            .to_string_lossy()
            .contains("hour=10/20240501T105959Z_"),
        "named after the latest event time: {:?}",
        report.files[0]
    );
    assert_eq!(store.outbox_len(), 0);
}

#[test]
fn collections_and_fractional_event_times_are_checked_and_read_back() {
    use arrow_array::builder::{FixedSizeListBuilder, Float64Builder, ListBuilder, StringBuilder};
    use fs_schema::{Collection, FeatureGroup, OnlineStoreConfig, StorageType};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let spec = FeatureGroup::builder("c", "id", "ts")
        .features([
            FeatureDefinition::integral("id"),
            FeatureDefinition::fractional("ts"),
            FeatureDefinition::string("tags").with_collection(Collection::Set),
            FeatureDefinition::fractional("emb")
                .with_collection(Collection::Vector { dimension: 2 }),
        ])
        .online_store(OnlineStoreConfig::enabled().with_storage_type(StorageType::InMemory))
        .build()
        .unwrap();
    store.create_feature_group(spec.clone()).unwrap();
    let mut tags = ListBuilder::new(StringBuilder::new());
    for row in [vec!["a", "b"], vec!["a", "a"], vec![]] {
        for t in row {
            tags.values().append_value(t);
        }
        tags.append(true);
    }
    let mut emb = FixedSizeListBuilder::new(Float64Builder::new(), 2);
    for row in [[0.5, 1.0], [2.0, 3.0], [f64::INFINITY, 0.0]] {
        emb.values().append_slice(&row);
        emb.append(true);
    }
    let b = RecordBatch::try_new(
        fs_schema::arrow_schema(&spec),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Float64Array::from(vec![
                1_700_000_000.123,
                1_700_000_000.0,
                1.0,
            ])),
            Arc::new(tags.finish()),
            Arc::new(emb.finish()),
        ],
    )
    .unwrap();
    let w = store.put_batch("c", &b, &BatchOptions::default()).unwrap();
    assert_eq!(w.rows_written, 1);
    let refused: Vec<_> = w.refused.iter().map(|r| (r.row, r.to_string())).collect();
    assert_eq!(refused[0].0, 1);
    assert!(refused[0].1.contains("distinct"), "{refused:?}");
    assert_eq!(refused[1].0, 2);
    assert!(refused[1].1.contains("finite"), "{refused:?}");
    let got = store.get_record("c", "1", None).unwrap().unwrap();
    assert_eq!(got.event_time.as_millis(), 1_700_000_000_123);
    // The same record as batch_to_records gives, read back.
    let expected = fs_schema::batch_to_records(&b.slice(0, 1))
        .unwrap()
        .remove(0);
    assert_eq!(got.record, expected);
    assert_eq!(
        store.outbox_len(),
        0,
        "an InMemory group has no offline store"
    );
}
