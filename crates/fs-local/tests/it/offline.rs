//! The offline store: Parquet files in the SageMaker layout, flushed idempotently.

use arrow_array::cast::AsArray;
use arrow_schema::{DataType, TimeUnit};
use fs_local::{Store, StoreOptions};
use fs_schema::{DeletionMode, TargetStore};

use crate::support::{group, offline_id_counts, parquet_files, read_parquet, record, stray_files};

#[test]
fn flush_writes_typed_parquet_in_the_glue_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    store
        .put_record("g", &record("a", "2024-03-05T07:08:09.123Z", 1), None, None)
        .unwrap();
    store
        .put_record("g", &record("b", "2024-03-05T07:59:00Z", 2), None, None)
        .unwrap();
    store
        .put_record("g", &record("c", "2024-03-05T08:00:00Z", 3), None, None)
        .unwrap();
    let report = store.flush().unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(
        report.files.len(),
        2,
        "one file per event-time hour: {:?}",
        report.files
    );
    let data = store.offline_data_dir("g").unwrap().unwrap();
    let rel: Vec<String> = parquet_files(&data)
        .iter()
        .map(|p| p.strip_prefix(&data).unwrap().display().to_string())
        .collect();
    assert!(
        rel[0].starts_with("year=2024/month=03/day=05/hour=07/20240305T075900Z_"),
        "{rel:?}"
    );
    assert!(
        rel[1].starts_with("year=2024/month=03/day=05/hour=08/20240305T080000Z_"),
        "{rel:?}"
    );
    assert!(
        data.starts_with(
            dir.path()
                .join("offline/000000000000/sagemaker/us-east-1/offline-store")
        )
    );

    let batches = read_parquet(&report.files[0]);
    let schema = batches[0].schema();
    let types: Vec<(String, DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    assert_eq!(
        types,
        [
            ("id".into(), DataType::Utf8),
            ("ts".into(), DataType::Utf8),
            ("n".into(), DataType::Int64),
            ("x".into(), DataType::Float64),
            ("write_time".into(), ts.clone()),
            ("api_invocation_time".into(), ts),
            ("is_deleted".into(), DataType::Boolean),
        ]
    );
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    assert_eq!(
        b.column(2)
            .as_primitive::<arrow_array::types::Int64Type>()
            .values(),
        &[1, 2]
    );
    assert!(b.column(6).as_boolean().iter().all(|d| d == Some(false)));
    assert_eq!(store.outbox_len(), 0);
    assert_eq!(store.flush().unwrap().rows, 0);
}

#[test]
fn older_puts_and_deletes_all_reach_the_offline_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    store
        .put_record("g", &record("a", "2024-01-02T00:00:00Z", 2), None, None)
        .unwrap();
    store
        .put_record("g", &record("a", "2024-01-01T00:00:00Z", 1), None, None)
        .unwrap();
    store
        .delete_record(
            "g",
            "a",
            "2024-01-03T00:00:00Z",
            DeletionMode::SoftDelete,
            None,
        )
        .unwrap();
    store
        .put_record(
            "g",
            &record("b", "2024-01-01T00:00:00Z", 1),
            Some(&[TargetStore::OnlineStore]),
            None,
        )
        .unwrap();
    store.flush().unwrap();
    let data = store.offline_data_dir("g").unwrap().unwrap();
    let counts = offline_id_counts(&data);
    assert_eq!(counts.get("a"), Some(&3));
    assert_eq!(counts.get("b"), None, "online-only put must not go offline");
    let mut deleted = 0;
    for f in parquet_files(&data) {
        for b in read_parquet(&f) {
            let flags = b.column_by_name("is_deleted").unwrap().as_boolean().clone();
            for (i, d) in flags.iter().enumerate() {
                if d == Some(true) {
                    deleted += 1;
                    // The marker carries the id and event time, nothing else.
                    assert!(b.column_by_name("n").unwrap().is_null(i));
                    let ts = b
                        .column_by_name("ts")
                        .unwrap()
                        .as_string::<i32>()
                        .value(i)
                        .to_owned();
                    assert_eq!(ts, "2024-01-03T00:00:00Z");
                }
            }
        }
    }
    assert_eq!(deleted, 1);
}

#[test]
fn a_flush_cut_short_before_the_outbox_trim_writes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data;
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_feature_group(group("g")).unwrap();
        for i in 0..50 {
            // Two event-time hours: two files.
            let ts = format!("2024-01-01T0{}:30:00Z", i % 2);
            store
                .put_record("g", &record(&i.to_string(), &ts, i), None, None)
                .unwrap();
        }
        let first = store.flush_files_only().unwrap();
        assert_eq!(first.rows, 50);
        assert_eq!(first.files.len(), 2, "{:?}", first.files);
        data = store.offline_data_dir("g").unwrap().unwrap();
        // "Crash" between the flush's two renames: the second file is still
        // under its temporary name, and the outbox is not trimmed.
        let last = &first.files[1];
        let name = last.file_name().unwrap().to_string_lossy();
        let tmp = last.with_file_name(format!(".{name}.tmp"));
        std::fs::rename(last, &tmp).unwrap();
        assert_eq!(stray_files(dir.path()).len(), 1, "the temporary file");
        // Dropped without trimming; then more puts arrive after restart.
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.outbox_len(), 50);
    store
        .put_record("g", &record("late", "2024-01-01T00:40:00Z", 1), None, None)
        .unwrap();
    // One flush finishes the pending one (exactly the same files) and then
    // moves the late row: the outbox is empty after it.
    let report = store.flush().unwrap();
    assert_eq!((report.rows, store.outbox_len()), (51, 0));
    let counts = offline_id_counts(&data);
    assert_eq!(counts.len(), 51);
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
    // Every file of the store, whatever its name: the redone flush wrote
    // the temporary file's name again and renamed it, leaving none behind.
    let stray = stray_files(dir.path());
    assert!(stray.is_empty(), "files left in the store: {stray:?}");
}

#[test]
fn the_outbox_flushes_itself_at_the_threshold_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default()
        .flush_threshold_rows(10)
        .background_flush(false);
    let store = Store::open_with(dir.path(), options).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let data = store.offline_data_dir("g").unwrap().unwrap();
    for i in 0..25 {
        store
            .put_record(
                "g",
                &record(&i.to_string(), "2024-01-01T00:00:00Z", i),
                None,
                None,
            )
            .unwrap();
    }
    assert_eq!(store.outbox_len(), 5);
    assert_eq!(offline_id_counts(&data).len(), 20);
    store.close().unwrap();
    assert_eq!(offline_id_counts(&data).len(), 25);
}

#[test]
fn background_flushes_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data;
    {
        let store =
            Store::open_with(dir.path(), StoreOptions::default().flush_threshold_rows(20)).unwrap();
        store.create_feature_group(group("g")).unwrap();
        data = store.offline_data_dir("g").unwrap().unwrap();
        for i in 0..300 {
            store
                .put_record(
                    "g",
                    &record(&i.to_string(), "2024-01-01T00:00:00Z", i),
                    None,
                    None,
                )
                .unwrap();
        }
        // Dropped without a flush: a background flush still running ends first.
    }
    let store = Store::open(dir.path()).unwrap();
    let flushed = offline_id_counts(&data).len() as u64;
    assert_eq!(
        flushed + store.outbox_len(),
        300,
        "every row is in a file or in the outbox"
    );
    assert!(
        flushed >= 20,
        "background flushes ran: {flushed} rows flushed"
    );
    store.flush().unwrap();
    let counts = offline_id_counts(&data);
    assert_eq!(counts.len(), 300);
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
}
